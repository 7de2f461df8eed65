// SyntheticTeacher: an offline, deterministic teacher for the built-in math domain.
//
// It reads the same prompts a real teacher gets (evol/prompts.h) and answers with the text a real
// teacher would write, so the whole parsing and elimination pipeline runs unchanged:
//   evolve   -> an evolved question (harder, easier or a new story; evol/math_domain.h), with a
//               controlled share of ill-posed evolutions, unchanged copies and template echoes;
//   equality -> "Equal" / "Not Equal";
//   answer   -> a step-by-step solution ending "The answer is: N" (a share with one wrong step),
//               or a short "sorry" for a question it cannot solve (ill-posed or not from the domain);
//   rank     -> a ranking, valid harder questions first, ill-posed ones last, in varied sloppy formats;
//   judge    -> "Step i: correct/incorrect" from the step checker.
// Every reply is a pure function of (seed, options, prompt, sample index).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "core/options.h"
#include "evol/prompts.h"
#include "evol/teacher.h"

namespace rleif::evol {

struct SyntheticTeacherOptions {
  int64_t seed = 1;
  double ill_posed_rate = 0.15;
  double no_change_rate = 0.05;
  double echo_rate = 0.03;
  double answer_error_rate = 0.05;
  double junk_rate = 0.02;
  double garbage_rank_rate = 0.05;

  template <class V>
  void visit(V& v) {
    v.field("seed", seed, "seed of every synthetic reply");
    v.field("ill_posed_rate", ill_posed_rate,
            "share of evolutions that come out ill-posed (missing quantity, contradiction, impossible)");
    v.field("no_change_rate", no_change_rate, "share of evolutions that return the question unchanged (rule 1)");
    v.field("echo_rate", echo_rate, "share of evolutions that copy '#Rewritten Prompt#:' into the text (rule 4)");
    v.field("answer_error_rate", answer_error_rate, "share of answers with one wrong step");
    v.field("junk_rate", junk_rate, "share of answers made only of stop words (rule 3)");
    v.field("garbage_rank_rate", garbage_rank_rate, "share of ranking replies with no ranking in them");
  }
  void validate() const;
};

class SyntheticTeacher : public Teacher {
 public:
  SyntheticTeacher(SyntheticTeacherOptions opts, Prompts prompts);
  // The reply to a request: a pure function of (options, messages, sample_index).
  std::string respond(const Messages& messages, int64_t sample_index) const;

  void complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) override;
  std::string model_id() const override { return model_id_; }
  TeacherStats stats() const override;

 private:
  std::string evolve_reply(EvolOp op, const std::string& instruction, uint64_t h) const;
  std::string answer_reply(const std::string& instruction, uint64_t h) const;
  std::string rank_reply(const std::string& candidates, uint64_t h) const;
  std::string judge_reply(const std::string& question, const std::string& steps) const;

  SyntheticTeacherOptions opts_;
  Prompts prompts_;
  std::string model_id_;
  std::atomic<int64_t> completed_{0}, prompt_tokens_{0}, completion_tokens_{0};
};

}  // namespace rleif::evol
