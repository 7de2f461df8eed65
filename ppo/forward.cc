#include "ppo/forward.h"

#include <algorithm>

#include "core/error.h"

namespace rleif::ppo {

torch::Tensor response_states(model::TransformerImpl& backbone, const std::vector<SeqRow>& rows,
                              const std::vector<int64_t>& idx, const torch::Device& device) {
  RLEIF_CHECK(!idx.empty(), "ppo: a forward pass over no sequences");
  std::vector<int64_t> ids, gather;  // gather: flat index of each predicting position
  int64_t longest = 0;
  for (int64_t i : idx) {
    const SeqRow& r = rows[static_cast<size_t>(i)];
    RLEIF_CHECK(!r.prompt.empty() && !r.response.empty(), "ppo: sequence ", i, " has an empty prompt or response");
    longest = std::max(longest, static_cast<int64_t>(r.prompt.size() + r.response.size()));
  }
  const auto iopt = torch::TensorOptions().dtype(torch::kInt64);
  if (backbone.packed_is_fast(longest) && idx.size() > 1) {
    // Consecutive rows with the same prompt (a GRPO/RLOO group's samples) share it: the first row is
    // whole, the others hold only their response and see the first's prompt (model::fused::Packing).
    // A branch's first response token is predicted by the prompt's last position, in the head's rows:
    // index_select sums the gradients of repeated indices, as the prompt's n copies would have.
    std::vector<int64_t> packed_len, prefix;
    int64_t off = 0, head_off = 0;
    const std::vector<int32_t>* head_prompt = nullptr;
    for (int64_t i : idx) {
      const SeqRow& r = rows[static_cast<size_t>(i)];
      const int64_t p = static_cast<int64_t>(r.prompt.size()), a = static_cast<int64_t>(r.response.size());
      const bool branch = head_prompt && *head_prompt == r.prompt;
      if (!branch) {
        head_prompt = &r.prompt;
        head_off = off;
        ids.insert(ids.end(), r.prompt.begin(), r.prompt.end());
        for (int64_t t = 0; t < a; ++t) gather.push_back(off + p - 1 + t);
      } else {
        gather.push_back(head_off + p - 1);
        for (int64_t t = 1; t < a; ++t) gather.push_back(off + t - 1);
      }
      ids.insert(ids.end(), r.response.begin(), r.response.end());
      packed_len.push_back(branch ? a : p + a);
      prefix.push_back(branch ? p : 0);
      off += packed_len.back();
    }
    auto x = torch::tensor(ids, iopt).unsqueeze(0).to(device);                     // [1,N]
    auto hidden = backbone.forward_packed(x, packed_len, prefix).squeeze(0);      // [N,H]
    return hidden.index_select(0, torch::tensor(gather, iopt).to(device));        // [M,H]
  }
  // Right-padded rows; a position attends only to earlier positions, so padding changes nothing.
  const int64_t b = static_cast<int64_t>(idx.size());
  std::vector<int64_t> padded(static_cast<size_t>(b * longest), 0);
  for (int64_t k = 0; k < b; ++k) {
    const SeqRow& r = rows[static_cast<size_t>(idx[static_cast<size_t>(k)])];
    int64_t t = 0;
    for (int32_t v : r.prompt) padded[static_cast<size_t>(k * longest + t++)] = v;
    for (int32_t v : r.response) padded[static_cast<size_t>(k * longest + t++)] = v;
    const int64_t p = static_cast<int64_t>(r.prompt.size()), a = static_cast<int64_t>(r.response.size());
    for (int64_t j = 0; j < a; ++j) gather.push_back(k * longest + p - 1 + j);
  }
  auto x = torch::tensor(padded, iopt).view({b, longest}).to(device);  // [b,T]
  auto hidden = backbone.forward(x);                                     // [b,T,H]
  return hidden.reshape({b * longest, hidden.size(2)}).index_select(0, torch::tensor(gather, iopt).to(device));
}

torch::Tensor to_padded(const torch::Tensor& flat, const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx,
                        int64_t width) {
  const int64_t b = static_cast<int64_t>(idx.size());
  std::vector<int64_t> dest;
  dest.reserve(static_cast<size_t>(flat.size(0)));
  for (int64_t k = 0; k < b; ++k) {
    const int64_t a = static_cast<int64_t>(rows[static_cast<size_t>(idx[static_cast<size_t>(k)])].response.size());
    RLEIF_CHECK(a <= width, "ppo: a response of ", a, " tokens does not fit width ", width);
    for (int64_t t = 0; t < a; ++t) dest.push_back(k * width + t);
  }
  RLEIF_CHECK(static_cast<int64_t>(dest.size()) == flat.size(0), "ppo: ", flat.size(0), " values for ", dest.size(),
              " response tokens");
  auto out = torch::zeros({b * width}, flat.options());
  out = out.index_put({torch::tensor(dest, torch::kInt64).to(flat.device())}, flat);  // out of place: autograd-safe
  return out.view({b, width});
}

PolicyForward policy_forward(model::CausalLM& lm, const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx,
                             int64_t width, double temperature, bool entropy, const torch::Device& device, int64_t chunk) {
  RLEIF_CHECK(temperature > 0, "ppo: log-probs need a temperature > 0, got ", temperature);
  auto h = response_states(*lm->model, rows, idx, device);  // [M,H]
  std::vector<int64_t> targets;
  for (int64_t i : idx) {
    const auto& r = rows[static_cast<size_t>(i)].response;
    targets.insert(targets.end(), r.begin(), r.end());
  }
  auto tgt = torch::tensor(targets, torch::kInt64).to(device);  // [M]
  std::vector<torch::Tensor> lp, ent;
  const int64_t m = h.size(0);
  for (int64_t s = 0; s < m; s += chunk) {
    const int64_t n = std::min(chunk, m - s);
    auto logits = lm->logits(h.narrow(0, s, n)).to(torch::kFloat32);  // [n,V]
    if (temperature != 1.0) logits = logits / temperature;
    auto logz = torch::log_softmax(logits, -1);                                    // [n,V]
    lp.push_back(logz.gather(1, tgt.narrow(0, s, n).unsqueeze(1)).squeeze(1));    // [n]
    if (entropy) ent.push_back(-(logz.exp() * logz).sum(-1));                     // [n]
  }
  PolicyForward out;
  out.logp = to_padded(torch::cat(lp), rows, idx, width);
  if (entropy) out.entropy = to_padded(torch::cat(ent), rows, idx, width);
  return out;
}

torch::Tensor critic_values(model::ScoreModel& critic, const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx,
                            int64_t width, const torch::Device& device) {
  auto h = response_states(*critic->model, rows, idx, device);  // [M,H]
  auto v = critic->score(h).squeeze(-1).to(torch::kFloat32);     // [M]
  return to_padded(v, rows, idx, width);
}

torch::Tensor response_mask(const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx, int64_t width,
                            const torch::Device& device) {
  const int64_t b = static_cast<int64_t>(idx.size());
  auto mask = torch::zeros({b, width}, torch::kFloat32);
  for (int64_t k = 0; k < b; ++k) {
    const int64_t a = static_cast<int64_t>(rows[static_cast<size_t>(idx[static_cast<size_t>(k)])].response.size());
    mask[k].narrow(0, 0, std::min(a, width)).fill_(1.0f);
  }
  return mask.to(device);
}

}  // namespace rleif::ppo
