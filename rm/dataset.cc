#include "rm/dataset.h"

#include <algorithm>
#include <numeric>

#include "train/trainer.h"

namespace rleif::rm {

void RmDataOptions::validate() const {
  RLEIF_CHECK(!train.empty(), "data.train is empty; give the training JSONL, e.g. data.train=runs/evol/prm_steps.jsonl");
  RLEIF_CHECK(eval_split >= 0 && eval_split < 1, "data.eval_split = ", eval_split, ": must be in [0, 1)");
  RLEIF_CHECK(limit >= 0, "data.limit = ", limit, ": must be >= 0");
}

double RmDataset::weight(size_t i) const {
  if (kind != RmKind::prm) return 1.0;
  double w = 0;
  for (float l : units[i].labels) w += l >= 0 ? 1.0 : 0.0;
  return w;
}

std::string RmDataset::summary() const {
  return str(enum_name(kind), ": ", units.size(), " units from ", read.summary(), "; encoded ", encode.summary(),
             dropped ? str("; ", dropped, " dropped (too long, or no labelled step left)") : std::string());
}

namespace {

std::string where(const SourceLoc& loc, const std::string& id) { return str(loc.str(), " (", id, ")"); }

void finish_unit(Unit& u) {
  u.tokens = 0;
  for (auto& s : u.seqs) u.tokens += static_cast<int64_t>(s.ids.size());
}

}  // namespace

RmDataset load_rm_dataset(const std::string& path, const RmDataOptions& opts, Encoder& enc, int64_t limit) {
  RmDataset d;
  d.kind = opts.kind;
  ReadOptions ro;
  ro.limit = limit;
  ro.on_error = opts.on_error;
  const EncodeStats before = enc.stats();
  switch (opts.kind) {
    case RmKind::irm: {
      auto recs = read_irm_lists(path, ro);
      d.read = recs.stats;
      for (auto& r : recs.items) {
        Unit u;
        u.id = r.id;
        u.ranking = r.ranking;
        bool ok = true;
        for (auto& c : r.candidates) {
          u.seqs.push_back(enc.instruction(c, where(r.loc, r.id)));
          ok = ok && !u.seqs.back().ids.empty();
        }
        if (!ok) { ++d.dropped; continue; }
        finish_unit(u);
        d.units.push_back(std::move(u));
      }
      break;
    }
    case RmKind::prm: {
      PrmReadOptions po;
      static_cast<ReadOptions&>(po) = ro;
      po.format = opts.format;
      po.neutral_positive = opts.neutral_positive;
      po.step_tag = opts.step_tag;
      auto recs = read_prm_examples(path, po);
      d.read = recs.stats;
      for (auto& r : recs.items) {
        Unit u;
        u.id = r.id;
        u.first_error = r.first_error();
        u.steps_total = static_cast<int64_t>(r.steps.size());
        Encoded e = enc.prompt_steps(r.prompt, r.steps, where(r.loc, r.id));
        if (e.ids.empty()) { ++d.dropped; continue; }
        u.labels.assign(r.labels.begin(), r.labels.begin() + static_cast<std::ptrdiff_t>(e.ends.size()));
        if (opts.until_first_error && u.first_error >= 0)
          for (size_t s = static_cast<size_t>(u.first_error) + 1; s < u.labels.size(); ++s) u.labels[s] = -1;
        u.seqs.push_back(std::move(e));
        bool any = std::any_of(u.labels.begin(), u.labels.end(), [](float l) { return l >= 0; });
        if (!any) { ++d.dropped; continue; }
        finish_unit(u);
        d.units.push_back(std::move(u));
      }
      break;
    }
    case RmKind::orm: {
      auto recs = read_orm_examples(path, ro);
      d.read = recs.stats;
      for (auto& r : recs.items) {
        Unit u;
        u.id = r.id;
        u.labels = {r.label};
        u.seqs.push_back(enc.prompt_response(r.prompt, r.response, where(r.loc, r.id)));
        if (u.seqs.back().ids.empty()) { ++d.dropped; continue; }
        finish_unit(u);
        d.units.push_back(std::move(u));
      }
      break;
    }
    case RmKind::pairwise: {
      auto recs = read_pair_examples(path, ro);
      d.read = recs.stats;
      for (auto& r : recs.items) {
        Unit u;
        u.id = r.id;
        u.margin = r.margin;
        u.seqs.push_back(enc.prompt_response(r.prompt, r.chosen, where(r.loc, r.id) + " chosen"));
        u.seqs.push_back(enc.prompt_response(r.prompt, r.rejected, where(r.loc, r.id) + " rejected"));
        if (u.seqs[0].ids.empty() || u.seqs[1].ids.empty()) { ++d.dropped; continue; }
        finish_unit(u);
        d.units.push_back(std::move(u));
      }
      break;
    }
  }
  const EncodeStats& after = enc.stats();
  d.encode.sequences = after.sequences - before.sequences;
  d.encode.truncated = after.truncated - before.truncated;
  d.encode.skipped = after.skipped - before.skipped;
  d.encode.dropped_steps = after.dropped_steps - before.dropped_steps;
  d.encode.tokens = after.tokens - before.tokens;
  return d;
}

RmDataset split_off(RmDataset& from, double share, uint64_t seed) {
  RmDataset held;
  held.kind = from.kind;
  const auto n = static_cast<int64_t>(from.units.size());
  const auto k = static_cast<int64_t>(static_cast<double>(n) * share + 0.5);
  if (k <= 0) return held;
  RLEIF_CHECK(k < n, "data.eval_split = ", share, " holds out all ", n, " units; lower it");
  auto perm = train::epoch_permutation(n, seed, -1);
  std::vector<bool> out(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < k; ++i) out[static_cast<size_t>(perm[static_cast<size_t>(i)])] = true;
  std::vector<Unit> keep;
  for (int64_t i = 0; i < n; ++i)
    (out[static_cast<size_t>(i)] ? held.units : keep).push_back(std::move(from.units[static_cast<size_t>(i)]));
  from.units.swap(keep);
  return held;
}

BackboneRows backbone_rows(model::Transformer& m, const std::vector<const Encoded*>& seqs, const torch::Device& device) {
  RLEIF_CHECK(!seqs.empty(), "end_logits: no sequences");
  int64_t longest = 0, total = 0;
  for (auto* s : seqs) {
    longest = std::max<int64_t>(longest, static_cast<int64_t>(s->ids.size()));
    total += static_cast<int64_t>(s->ids.size());
  }
  BackboneRows out;
  if (device.is_cpu() && seqs.size() > 1 && m->packed_is_fast(longest)) {
    std::vector<int64_t> ids, lengths;
    ids.reserve(static_cast<size_t>(total));
    int64_t offset = 0;
    for (auto* s : seqs) {
      ids.insert(ids.end(), s->ids.begin(), s->ids.end());
      lengths.push_back(static_cast<int64_t>(s->ids.size()));
      out.offset.push_back(offset);
      offset += static_cast<int64_t>(s->ids.size());
    }
    out.ids = torch::tensor(ids, torch::kInt64);                                  // [N]
    out.hidden = m->forward_packed(out.ids.unsqueeze(0), lengths).squeeze(0);    // [N,H]
  } else {
    const auto B = static_cast<int64_t>(seqs.size());
    auto ids = torch::zeros({B, longest}, torch::kInt64);  // right padding: causal attention never reads it
    auto acc = ids.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b) {
      const Encoded* s = seqs[static_cast<size_t>(b)];
      for (size_t t = 0; t < s->ids.size(); ++t) acc[b][static_cast<int64_t>(t)] = s->ids[t];
      out.offset.push_back(b * longest);
    }
    out.ids = ids.reshape({-1});                                   // [B*T]
    out.hidden = m->forward(ids.to(device));                       // [B,T,H]
    out.hidden = out.hidden.reshape({-1, out.hidden.size(-1)});    // [B*T,H]
  }
  return out;
}

torch::Tensor end_logits(model::ScoreModel& m, const std::vector<const Encoded*>& seqs, const torch::Device& device) {
  BackboneRows rows = backbone_rows(m->model, seqs, device);
  std::vector<int64_t> flat_pos;  // [E] row of each score position
  for (size_t b = 0; b < seqs.size(); ++b)
    for (int64_t e : seqs[b]->ends) flat_pos.push_back(rows.offset[b] + e);
  auto idx = torch::tensor(flat_pos, torch::kInt64).to(rows.hidden.device());
  return m->score(rows.hidden.index_select(0, idx)).to(torch::kFloat32);  // [E,C]
}

}  // namespace rleif::rm
