// The evolve stage: seed answers (round 0), then M rounds of K chained evolutions per seed, each
// eliminated or kept and answered. One record per unit, in unit order.
#include <memory>

#include "core/answer.h"
#include "core/strings.h"
#include "evol/elimination.h"
#include "evol/replies.h"
#include "evol/rng.h"
#include "evol/stages.h"

namespace rleif::evol {
namespace {

// Unit numbering: [0, S) answer the seeds (when responses.include_seeds), then round r in 1..M
// holds S*K units, seed-major: unit = base(r) + s*K + k.
struct Layout {
  int64_t S = 0, K = 1, M = 0;
  bool seed_round = false;
  int64_t base(int64_t r) const { return (seed_round ? S : 0) + (r - 1) * S * K; }
  int64_t end(int64_t r) const { return r == 0 ? (seed_round ? S : 0) : base(r) + S * K; }
  int64_t total() const { return end(M > 0 ? M : 0); }
  int64_t round_of(int64_t u) const {
    if (seed_round && u < S) return 0;
    return (u - (seed_round ? S : 0)) / (S * K) + 1;
  }
};

class EvolveStage {
 public:
  EvolveStage(RunContext& ctx, const std::vector<Seed>& seeds) : ctx_(ctx), cfg_(ctx.cfg), seeds_(seeds) {
    L_.S = static_cast<int64_t>(seeds.size());
    L_.K = cfg_.evolution.variants;
    L_.M = cfg_.evolution.rounds;
    L_.seed_round = cfg_.responses.enabled && cfg_.responses.include_seeds;
    for (const Seed& s : seeds_)
      for (int64_t k = 0; k < L_.K; ++k) parent_.push_back({s.id, s.instruction});
  }

  bool run() {
    prog_ = ctx_.dir.progress("evolve");
    out_ = ctx_.dir.open_output("evolve", "evolved.jsonl");
    replay_written();
    int64_t total = L_.total();
    auto bar = ctx_.progress("evolve", total, prog_.done);
    Scheduler sched(ctx_.teacher, ctx_.max_active, ctx_.stop);
    for (int64_t r = L_.round_of(std::min(prog_.done, std::max<int64_t>(total - 1, 0))); r <= L_.M; ++r) {
      if (r == 0 && !L_.seed_round) continue;
      int64_t from = std::max(prog_.done, r == 0 ? 0 : L_.base(r)), to = L_.end(r);
      if (from >= to) continue;
      // A round resumed part-way already holds its written records (replay_written).
      if (r >= 1 && from == L_.base(r)) round_.assign(static_cast<size_t>(L_.S * L_.K), ChainStep{});
      int64_t cursor = sched.run(
          from, to, [&](int64_t u, Unit unit) { start(u, r, unit); },
          [&](int64_t u, UnitResult& res) { write(u, r, res); },
          [&] { ctx_.dir.checkpoint("evolve", *out_, prog_, ctx_.usage()); },
          [&] {
            if (bar) bar->update(prog_.done, ctx_.fields(prog_));
          });
      if (cursor < to) return false;
      if (r >= 1) apply_round();
    }
    if (bar) bar->finish();
    return true;
  }

 private:
  // What a record contributes to its chain.
  struct ChainStep {
    bool kept = false;
    std::string id, instruction;
  };
  // `loc` names the record in errors: a record read back from disk may have been edited.
  static ChainStep chain_step(const json& rec, const SourceLoc& loc) {
    ChainStep s;
    s.kept = rec.contains("kept") && get_field<bool>(rec, "kept", loc, "true or false");
    s.id = get_field<std::string>(rec, "id", loc, "a string (the record's id)");
    if (rec.contains("instruction")) s.instruction = get_field<std::string>(rec, "instruction", loc, "a string");
    return s;
  }

  // Rebuilds the chain parents from the records already written (a resumed run), streaming: the
  // file can be large, and only (kept, id, instruction) of the current round is held.
  void replay_written() {
    if (prog_.done == 0) return;
    JsonlReader reader(ctx_.dir.path("evolved.jsonl"));
    json rec;
    SourceLoc loc;
    for (int64_t u = 0; u < prog_.done && reader.next(rec, loc); ++u) {
      int64_t r = L_.round_of(u);
      if (r == 0) continue;
      if (u == L_.base(r)) round_.assign(static_cast<size_t>(L_.S * L_.K), ChainStep{});
      round_[static_cast<size_t>(u - L_.base(r))] = chain_step(rec, loc);
      if (u + 1 == L_.end(r)) apply_round();
    }
  }

  // A kept evolution becomes the next parent of its chain; an eliminated one leaves the chain on its
  // last kept ancestor (Evol-Instruct: a failed item is dropped from that round).
  void apply_round() {
    for (size_t i = 0; i < round_.size(); ++i)
      if (round_[i].kept) parent_[i] = {round_[i].id, round_[i].instruction};
  }

  void write(int64_t u, int64_t r, UnitResult& res) {
    for (auto& rec : res.records) out_->append(rec);
    prog_.lines += static_cast<int64_t>(res.records.size());
    count_unit(prog_, res);
    if (r >= 1)
      round_[static_cast<size_t>(u - L_.base(r))] = chain_step(res.records.front(), SourceLoc{out_->path(), 0});
  }

  static void finish(const Unit& unit, json rec, bool kept, const std::string& why) {
    rec["kept"] = kept;
    if (!kept) rec["reason"] = why;
    UnitResult res;
    res.kept = kept;
    res.reason = why;
    res.records.push_back(std::move(rec));
    unit.finish(std::move(res));
  }

  void start(int64_t u, int64_t r, const Unit& unit) {
    if (r == 0) {
      const Seed& s = seeds_[static_cast<size_t>(u)];
      json rec{{"id", s.id}, {"parent_id", nullptr}, {"seed_id", s.id}, {"round", 0},
               {"variant", 0}, {"op", "seed"},        {"instruction", s.instruction}};
      return answer(unit, std::move(rec), s.instruction, s.answer);
    }
    int64_t s = (u - L_.base(r)) / L_.K, k = (u - L_.base(r)) % L_.K;
    const Seed& seed = seeds_[static_cast<size_t>(s)];
    const auto& [pid, pins] = parent_[static_cast<size_t>(s * L_.K + k)];
    Rng rng(hash_combine(static_cast<uint64_t>(cfg_.evolution.seed), hash_bytes(seed.id), static_cast<uint64_t>(r),
                         static_cast<uint64_t>(k)));
    auto op = static_cast<EvolOp>(rng.weighted(cfg_.evolution.round_weights(static_cast<int>(r))));
    json rec{{"id", str(seed.id, ".r", r, ".v", k)}, {"parent_id", pid}, {"seed_id", seed.id}, {"round", r},
             {"variant", k}, {"op", enum_name(op)}};
    std::string parent = pins;
    unit.call(ctx_.prompts.evolve_messages(op, parent), ctx_.params(cfg_.sampling.evolve, r * L_.K + k),
              [this, unit, rec, parent](const Completion& c) mutable {
                std::string ins = trim(c.text);
                rec["instruction"] = ins;
                if (auto why = check_instruction(ins)) return finish(unit, rec, false, *why);
                if (!cfg_.elimination.equality_check) return answer(unit, rec, ins, std::nullopt);
                unit.call(ctx_.prompts.equality_messages(parent, ins), ctx_.params(cfg_.sampling.judge, 0),
                          [this, unit, rec, ins](const Completion& j) mutable {
                            auto equal = parse_equal(j.text);
                            // An unreadable judgement keeps the item: rules 2-4 still apply to it.
                            if (equal && *equal) return finish(unit, rec, false, reason::kNoInformationGain);
                            answer(unit, rec, ins, std::nullopt);
                          });
              });
  }

  void answer(const Unit& unit, json rec, const std::string& ins, const std::optional<std::string>& truth) {
    if (!cfg_.responses.enabled) return finish(unit, std::move(rec), true, "");
    unit.call(ctx_.prompts.answer_messages(ins), ctx_.params(cfg_.sampling.answer, 0),
              [this, unit, rec, truth](const Completion& c) mutable {
                rec["response"] = c.text;
                auto a = extract_answer(c.text);
                if (a) rec["answer"] = *a;
                if (truth) rec["truth"] = *truth;
                if (auto why = check_response(c.text, cfg_.elimination)) return finish(unit, rec, false, *why);
                if (truth && cfg_.elimination.check_truth) {
                  bool ok = a && answers_match(*a, *truth);
                  rec["correct"] = ok;
                  if (!ok) return finish(unit, rec, false, reason::kWrongAnswer);
                }
                finish(unit, rec, true, "");
              });
  }

  RunContext& ctx_;
  const EvolConfig& cfg_;
  const std::vector<Seed>& seeds_;
  Layout L_;
  StageProgress prog_;
  std::unique_ptr<JsonlAppender> out_;
  std::vector<std::pair<std::string, std::string>> parent_;  // per chain (s*K + k): (id, instruction)
  std::vector<ChainStep> round_;  // the current round's records, by s*K + k
};

}  // namespace

bool run_evolve_stage(RunContext& ctx, const std::vector<Seed>& seeds) { return EvolveStage(ctx, seeds).run(); }

}  // namespace rleif::evol
