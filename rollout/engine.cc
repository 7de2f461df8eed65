#include "rollout/engine.h"

#include <algorithm>
#include <random>

#include "core/log.h"
#include "rollout/graph_decoder.h"

namespace rleif::rollout {

void EngineOptions::validate() const {
  RLEIF_CHECK(max_batch >= 1, "rollout.max_batch is ", max_batch, "; give at least 1 row");
  RLEIF_CHECK(max_len >= 0, "rollout.max_len is ", max_len, "; use 0 (model maximum) or a positive length");
  RLEIF_CHECK(max_prefill_tokens >= 1, "rollout.max_prefill_tokens is ", max_prefill_tokens, "; give at least 1");
}

struct Engine::ReqState {
  uint64_t handle = 0;
  Request req;
  Completion out;
  int64_t admitted = 0;  // samples given a row so far
  int64_t done = 0;      // samples finished (or cancelled before admission)
  bool cancelled = false;
  TokenFn on_token;
  DoneFn on_done;
};

namespace {
int64_t resolve_capacity(const model::ModelConfig& cfg, const EngineOptions& o) {
  o.validate();
  const int64_t model_max = cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : 2048;
  if (o.max_len == 0) return std::min<int64_t>(model_max, 2048);
  RLEIF_CHECK(o.max_len <= model_max, "rollout.max_len is ", o.max_len, " but the model supports ", model_max,
              " positions (max_position_embeddings); lower it");
  return o.max_len;
}
bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
}  // namespace

Engine::Engine(model::CausalLM lm, const Tokenizer* tokenizer, EngineOptions opts)
    : opts_(opts), tok_(tokenizer), decoder_(lm, opts.max_batch, resolve_capacity(lm->cfg, opts), opts.attention) {
  eos_ = lm->cfg.eos_token_ids;
  if (eos_.empty() && tok_ && tok_->eos_id()) eos_.push_back(*tok_->eos_id());
  slots_.resize(static_cast<size_t>(opts_.max_batch));
  if (opts_.cuda_graphs) graph_ = GraphDecoder::create(decoder_);
  const double cache_bytes = 2.0 * static_cast<double>(lm->cfg.num_hidden_layers * opts_.max_batch * decoder_.capacity() *
                                                       lm->cfg.num_key_value_heads * lm->cfg.head_size()) *
                             static_cast<double>(c10::elementSize(decoder_.dtype()));
  log_debug("rollout: KV cache ", opts_.max_batch, " rows x ", decoder_.capacity(), " positions (",
            human_bytes(cache_bytes), "), attention ", enum_name(decoder_.kernel()),
            graph_ ? ", CUDA graphs" : "");
}

Engine::~Engine() = default;

std::string Engine::check(const Request& r) const {
  try {
    r.params.validate();
  } catch (const Error& e) {
    return e.what();
  }
  if (r.prompt.empty()) return "the prompt has no tokens; give at least one token";
  const int64_t vocab = decoder_.config().vocab_size;
  for (int32_t id : r.prompt)
    if (id < 0 || id >= vocab) return str("prompt token id ", id, " is outside the vocabulary [0, ", vocab, ")");
  const int64_t need = static_cast<int64_t>(r.prompt.size()) + r.params.max_new_tokens;
  if (need > decoder_.capacity())
    return str("the prompt has ", r.prompt.size(), " tokens and max_new_tokens is ", r.params.max_new_tokens, ": ", need,
               " positions, but rows hold ", decoder_.capacity(), "; shorten the prompt, lower max_new_tokens or raise max_len");
  if (!r.params.stop.empty() && !tok_) return "stop strings need a tokenizer, and this engine has none";
  return {};
}

uint64_t Engine::submit(Request request, TokenFn on_token, DoneFn on_done) {
  const std::string bad = check(request);
  RLEIF_CHECK(bad.empty(), bad);
  auto st = std::make_unique<ReqState>();
  st->handle = next_handle_++;
  if (request.params.seed < 0) {
    std::random_device rd;
    request.params.seed = static_cast<int64_t>(((static_cast<uint64_t>(rd()) << 32) ^ rd()) >> 1);
  }
  st->out.seed = request.params.seed;
  st->out.prompt_tokens = static_cast<int64_t>(request.prompt.size());
  st->out.samples.resize(static_cast<size_t>(request.params.n));
  st->req = std::move(request);
  st->on_token = std::move(on_token);
  st->on_done = std::move(on_done);
  waiting_.push_back(st.get());
  const uint64_t h = st->handle;
  requests_[h] = std::move(st);
  return h;
}

void Engine::cancel(uint64_t handle) {
  auto it = requests_.find(handle);
  if (it == requests_.end()) return;
  ReqState* r = it->second.get();
  r->cancelled = true;
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), r), waiting_.end());
  for (int64_t i = r->admitted; i < r->req.params.n; ++i) r->out.samples[i].finish = FinishReason::cancelled;
  r->done += r->req.params.n - r->admitted;
  r->admitted = r->req.params.n;
  for (size_t s = 0; s < slots_.size(); ++s)
    if (slots_[s].req == r) finish(static_cast<int64_t>(s), FinishReason::cancelled);
  if (requests_.count(handle) && r->done == r->req.params.n) release(r);
}

std::vector<Completion> Engine::generate(const std::vector<Request>& requests,
                                         const std::function<void(size_t, const Completion&)>& on_done) {
  std::vector<Completion> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    submit(requests[i], {}, [&results, &on_done, i](Completion&& c) {
      results[i] = std::move(c);
      if (on_done) on_done(i, results[i]);
    });
  }
  while (step()) {
  }
  return results;
}

bool Engine::step() {
  c10::InferenceMode guard;
  admit();
  if (opts_.schedule == Schedule::continuous && opts_.compact && waiting_.empty()) compact();
  if (running_ > 0) decode();
  return busy();
}

void Engine::admit() {
  if (waiting_.empty() || (opts_.schedule == Schedule::fixed && running_ > 0)) return;
  std::deque<int64_t> free;
  for (size_t s = 0; s < slots_.size(); ++s)
    if (!slots_[s].req) free.push_back(static_cast<int64_t>(s));
  std::vector<Group> groups;
  int64_t tokens = 0;
  while (!waiting_.empty() && !free.empty()) {
    ReqState* r = waiting_.front();
    const int64_t len = static_cast<int64_t>(r->req.prompt.size());
    if (!groups.empty() && tokens + len > opts_.max_prefill_tokens) break;
    const int64_t k = std::min<int64_t>(r->req.params.n - r->admitted, static_cast<int64_t>(free.size()));
    Group g{r, r->admitted, {}};
    for (int64_t i = 0; i < k; ++i) {
      g.slots.push_back(free.front());
      free.pop_front();
    }
    r->admitted += k;
    if (r->admitted == r->req.params.n) waiting_.pop_front();
    tokens += len;
    groups.push_back(std::move(g));
  }
  if (!groups.empty()) prefill(groups);
}

void Engine::prefill(const std::vector<Group>& groups) {
  const int64_t g = static_cast<int64_t>(groups.size());
  int64_t tp = 0;
  for (const auto& gr : groups) tp = std::max<int64_t>(tp, static_cast<int64_t>(gr.req->req.prompt.size()));
  // Right padding: pad tokens sit at positions after the prompt, which no real query attends to.
  auto ids = torch::zeros({g, tp}, torch::kInt64);
  auto last = torch::empty({g}, torch::kInt64);
  auto rows = torch::empty({g}, torch::kInt64);
  auto ia = ids.accessor<int64_t, 2>();
  for (int64_t i = 0; i < g; ++i) {
    const auto& p = groups[i].req->req.prompt;
    for (size_t t = 0; t < p.size(); ++t) ia[i][static_cast<int64_t>(t)] = p[t];
    last[i] = i * tp + static_cast<int64_t>(p.size()) - 1;
    rows[i] = groups[i].slots[0];
    stats_.prefill_tokens += static_cast<int64_t>(p.size());
  }
  const auto dev = decoder_.device();
  auto positions = torch::arange(tp, torch::kInt64).unsqueeze(0).expand({g, tp}).contiguous();
  auto hidden = decoder_.forward(ids.to(dev), positions.to(dev), rows.to(dev), tp);  // [G,Tp,H]
  auto logits = decoder_.logits(hidden.reshape({g * tp, hidden.size(2)}).index_select(0, last.to(dev)));  // [G,V]

  std::vector<int64_t> order, group_of_row;
  for (int64_t i = 0; i < g; ++i) {
    const Group& gr = groups[i];
    const auto& prompt = gr.req->req.prompt;
    const int64_t len = static_cast<int64_t>(prompt.size());
    for (size_t j = 0; j < gr.slots.size(); ++j) {
      const int64_t s = gr.slots[j];
      decoder_.copy_row(gr.slots[0], s, len);
      Slot& slot = slots_[s];
      slot.req = gr.req;
      slot.sample = gr.first_sample + static_cast<int64_t>(j);
      slot.pos = len;
      slot.detok = Detokenizer(tok_, prompt);
      slot.stop = StopMatcher(gr.req->req.params.stop);
      ++running_;
      order.push_back(s);
      group_of_row.push_back(i);
    }
  }
  if (static_cast<int64_t>(order.size()) != g)
    logits = logits.index_select(0, torch::tensor(group_of_row, torch::kInt64).to(dev));
  advance(order, logits);
}

void Engine::decode() {
  int64_t hi = 0, kv_len = 0;
  std::vector<int64_t> live;
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (!slots_[s].req) continue;
    live.push_back(static_cast<int64_t>(s));
    hi = static_cast<int64_t>(s) + 1;
    kv_len = std::max(kv_len, slots_[s].pos + 1);
  }
  // A fixed schedule decodes the whole admitted batch until its last row ends, like padded static
  // batching (the baseline continuous batching is measured against).
  if (opts_.schedule == Schedule::fixed) hi = opts_.max_batch;
  std::vector<int64_t> ids(static_cast<size_t>(hi), 0), pos(static_cast<size_t>(hi), 0);
  for (int64_t s : live) {
    ids[s] = slots_[s].last;
    pos[s] = slots_[s].pos;
  }
  torch::Tensor logits;  // [hi,V]
  if (graph_) {
    logits = graph_->decode(ids, pos, kv_len);
  } else if (decoder_.fused_decode()) {
    logits = decoder_.logits(decoder_.decode_fused(ids, pos));
  } else {
    const auto dev = decoder_.device();
    auto ids_t = torch::tensor(ids, torch::kInt64).to(dev).view({hi, 1});
    auto pos_t = torch::tensor(pos, torch::kInt64).to(dev).view({hi, 1});
    logits = decoder_.logits(decoder_.forward(ids_t, pos_t, {}, kv_len).squeeze(1));
  }
  ++stats_.steps;
  stats_.decoded_rows += hi;
  stats_.running_rows += static_cast<int64_t>(live.size());
  for (int64_t s : live) ++slots_[s].pos;
  if (static_cast<int64_t>(live.size()) != hi)
    logits = logits.index_select(0, torch::tensor(live, torch::kInt64).to(logits.device()));
  advance(live, logits);
}

void Engine::compact() {
  // Fill holes below the highest running row with the highest rows, so decode covers fewer rows.
  int64_t lo = 0, hi = static_cast<int64_t>(slots_.size()) - 1;
  while (true) {
    while (lo < hi && slots_[lo].req) ++lo;
    while (hi > lo && !slots_[hi].req) --hi;
    if (lo >= hi) break;
    decoder_.copy_row(hi, lo, slots_[hi].pos);
    slots_[lo] = std::move(slots_[hi]);
    slots_[hi] = Slot{};
  }
}

void Engine::advance(const std::vector<int64_t>& rows, const torch::Tensor& logits) {
  const size_t n = rows.size();
  std::vector<const SamplingParams*> params(n);
  std::vector<double> uniforms(n);
  int64_t top_k = 0;
  for (size_t i = 0; i < n; ++i) {
    const Slot& s = slots_[rows[i]];
    const SamplingParams& p = s.req->req.params;
    params[i] = &p;
    const uint64_t step = s.req->out.samples[s.sample].tokens.size();
    uniforms[i] = p.greedy() ? 0.0 : stream_uniform(static_cast<uint64_t>(p.seed), static_cast<uint64_t>(s.sample), step);
    top_k = std::max(top_k, p.top_logprobs);
  }
  torch::Tensor tokens_t;  // [R]
  if (logits.is_cpu() && logits.scalar_type() == torch::kFloat32 && logits.is_contiguous()) {
    tokens_t = torch::tensor(sample_tokens_cpu(logits, params, uniforms), torch::kInt64);
  } else {
    tokens_t = sample_tokens(logits, RowParams::make(params, uniforms, logits.device()));
  }
  auto lp_t = token_logprobs(logits, tokens_t);
  torch::Tensor top_v, top_i;  // [R,k]
  if (top_k > 0) {
    std::tie(top_v, top_i) = torch::log_softmax(logits.to(torch::kFloat32), -1).topk(top_k, -1);
    top_v = top_v.cpu();
    top_i = top_i.cpu();
  }
  tokens_t = tokens_t.cpu();
  lp_t = lp_t.cpu();
  auto tok_a = tokens_t.accessor<int64_t, 1>();
  auto lp_a = lp_t.accessor<float, 1>();

  for (size_t i = 0; i < n; ++i) {
    const int64_t slot_id = rows[i];
    Slot& s = slots_[slot_id];
    ReqState* r = s.req;
    const SamplingParams& p = r->req.params;
    Sample& out = r->out.samples[s.sample];
    const int32_t tok = static_cast<int32_t>(tok_a[i]);
    out.tokens.push_back(tok);
    out.logprobs.push_back(lp_a[i]);
    if (p.top_logprobs > 0) {
      std::vector<TokenLogprob> alts;
      auto ti = top_i.accessor<int64_t, 2>();
      auto tv = top_v.accessor<float, 2>();
      for (int64_t j = 0; j < p.top_logprobs; ++j) alts.push_back({static_cast<int32_t>(ti[i][j]), tv[i][j]});
      out.top.push_back(std::move(alts));
    }
    ++stats_.generated_tokens;
    s.last = tok;

    bool done = false;
    FinishReason why = FinishReason::length;
    std::string text;
    if (tok_) {
      text = s.detok.push(tok);
      if (!s.stop.empty()) text = s.stop.feed(text);
      if (s.stop.stopped()) done = true, why = FinishReason::stop;
    }
    if (!done && ((!p.ignore_eos && contains(eos_, tok)) || contains(p.stop_token_ids, tok)))
      done = true, why = FinishReason::stop;
    if (!done && static_cast<int64_t>(out.tokens.size()) >= p.max_new_tokens) done = true, why = FinishReason::length;
    if (!done && s.pos >= decoder_.capacity()) done = true, why = FinishReason::length;
    if (done && tok_ && !s.stop.stopped()) {
      text += s.stop.feed(s.detok.flush());
      if (s.stop.stopped()) why = FinishReason::stop;
      else text += s.stop.flush();
    }
    out.text += text;
    if (r->on_token) {
      TokenEvent ev;
      ev.sample = s.sample;
      ev.token = tok;
      ev.logprob = lp_a[i];
      ev.top = p.top_logprobs > 0 ? &out.top.back() : nullptr;
      ev.text = std::move(text);
      ev.finished = done;
      ev.finish = why;
      r->on_token(ev);
    }
    if (done) finish(slot_id, why);
  }
}

void Engine::finish(int64_t slot, FinishReason why) {
  Slot& s = slots_[slot];
  ReqState* r = s.req;
  r->out.samples[s.sample].finish = why;
  s = Slot{};
  --running_;
  if (++r->done == r->req.params.n && !r->cancelled) release(r);
}

void Engine::release(ReqState* r) {
  auto it = requests_.find(r->handle);
  DoneFn done = std::move(r->on_done);
  Completion out = std::move(r->out);
  requests_.erase(it);
  if (done) done(std::move(out));
}

}  // namespace rleif::rollout
