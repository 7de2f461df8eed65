#include "evol/prompts.h"

#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace rleif::evol {
namespace {

// ---- Evol-Instruct templates ----------------------------------------------------------------
// The in-depth and in-breadth prompts below are verbatim from WizardLM's Evol_Instruct/depth.py and
// breadth.py (nlpxucan/WizardLM, Apache-2.0; copies in shared/data/evol with the licence), with
// lines joined by "\n" and the original's stray tabs removed. tests/unit/evol_prompts_test.cc
// checks them against those files.
constexpr const char* kDepthHead =
    "I want you act as a Prompt Rewriter.\n"
    "Your objective is to rewrite a given prompt into a more complex version to make those famous AI systems "
    "(e.g., chatgpt and GPT4) a bit harder to handle.\n"
    "But the rewritten prompt must be reasonable and must be understood and responded by humans.\n"
    "Your rewriting cannot omit the non-text parts such as the table and code in #The Given Prompt#:. Also, please "
    "do not omit the input in #The Given Prompt#.\n"
    "You SHOULD complicate the given prompt using the following method:\n";
constexpr const char* kDepthTail =
    "\nYou should try your best not to make the #Rewritten Prompt# become verbose, #Rewritten Prompt# can only add "
    "10 to 20 words into #The Given Prompt#.\n"
    "'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' are not allowed to appear in "
    "#Rewritten Prompt#\n"
    "#The Given Prompt#:\n"
    "{instruction}\n"
    "#Rewritten Prompt#:";
constexpr const char* kBreadth =
    "I want you act as a Prompt Creator.\n"
    "Your goal is to draw inspiration from the #Given Prompt# to create a brand new prompt.\n"
    "This new prompt should belong to the same domain as the #Given Prompt# but be even more rare.\n"
    "The LENGTH and complexity of the #Created Prompt# should be similar to that of the #Given Prompt#.\n"
    "The #Created Prompt# must be reasonable and must be understood and responded by humans.\n"
    "'#Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to appear in "
    "#Created Prompt#\n"
    "#Given Prompt#:\n"
    "{instruction}\n"
    "#Created Prompt#:";

// {METHOD} values of depth.py, verbatim (the stray ' ends the first one in the original).
constexpr const char* kMethodConstraints = "Please add one more constraints/requirements into #The Given Prompt#'";
constexpr const char* kMethodDeepening =
    "If #The Given Prompt# contains inquiries about certain issues, the depth and breadth of the inquiry can be "
    "increased.";
constexpr const char* kMethodConcretizing = "Please replace general concepts with more specific concepts.";
constexpr const char* kMethodReasoning =
    "If #The Given Prompt# can be solved with just a few simple thinking processes, you can rewrite it to explicitly "
    "request multiple-step reasoning.";
// Project-authored: the paper's "complicating input" prompt is not in the released code.
constexpr const char* kMethodComplicateInput =
    "Please add input data that the answer must use, in a structured form such as a small table or a list, to "
    "#The Given Prompt#.";

// Project-authored downward evolution (WizardMath v1 §2.2 describes it; no template was released).
constexpr const char* kDownHead =
    "I want you act as a Prompt Rewriter.\n"
    "Your objective is to rewrite a given math question into an easier version that a beginner can solve.\n"
    "The rewritten question must be reasonable, must have exactly one correct answer, and must be understood and "
    "responded by humans.\n"
    "You SHOULD simplify the given prompt using the following method:\n";
constexpr const char* kDownTail =
    "\n'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' are not allowed to appear "
    "in #Rewritten Prompt#\n"
    "#The Given Prompt#:\n"
    "{instruction}\n"
    "#Rewritten Prompt#:";
constexpr const char* kMethodDownward =
    "Revise #The Given Prompt# to a lower difficulty: fewer reasoning steps or simpler numbers, on the same topic.";
constexpr const char* kMethodDownwardTopic =
    "Produce a new and easier question with another different topic, needing fewer reasoning steps than "
    "#The Given Prompt#.";

// Evol-Instruct's equality check (paper appendix, as reproduced in third-party code).
constexpr const char* kEquality =
    "Here are two Instructions to ChatGPT AI, do you think they are equal to each other, which meet the following "
    "requirements:\n"
    "1. They have same constraints and requirements.\n"
    "2. They have same depth and breadth of the inquiry.\n"
    "The First Prompt: {first}\n"
    "The Second Prompt: {second}\n"
    "Your Judgement (Just answer: Equal or Not Equal. No need to explain the reason.):";

// WizardMath's CoT prompt (WizardMath/inference/gsm8k_inference.py, Apache-2.0).
constexpr const char* kAnswer =
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response: Let's think step by step.";
// Project-authored: a chat teacher needs to be told WizardMath's output convention.
constexpr const char* kAnswerSystem =
    "You are a helpful assistant. Solve the problem step by step, one step per line, each step with its "
    "arithmetic. End with a final line of the form \"The answer is: N\".";

// Project-authored: IRM ranking on WizardMath's criteria (definition, precision, integrity; v3 adds difficulty).
constexpr const char* kRank =
    "I will give you a math question and {n} rewritten versions of it. Rank the rewritten versions from best to "
    "worst as training questions, judging:\n"
    "1. Definition: it is clearly stated and asks for one well-defined answer.\n"
    "2. Precision: every quantity it needs is given, with no contradiction.\n"
    "3. Integrity: it is complete and solvable as written.\n"
    "4. Difficulty: among equally good questions, the harder one ranks higher.\n"
    "#Original Question#:\n{instruction}\n"
    "#Candidates#:\n{candidates}\n"
    "Reply with the ranking only, best first, as bracketed numbers, for example: [2] > [1] > [3]";

// Project-authored: PRM step labels (WizardMath v1 §2.3: the teacher assesses each step).
constexpr const char* kJudge =
    "You are grading a solution to a math question one step at a time. A step is correct when its arithmetic is "
    "right and it follows from the question and the earlier correct steps.\n"
    "#Question#:\n{question}\n"
    "#Solution Steps#:\n{steps}\n"
    "For each of the {n} steps, reply on its own line with \"Step <i>: correct\" or \"Step <i>: incorrect\", and "
    "nothing else.";

struct Builtin {
  const char* name;
  std::string text;
  std::vector<std::string> allowed, required;
};

std::vector<Builtin> builtins() {
  auto depth = [](const char* method) { return std::string(kDepthHead) + method + kDepthTail; };
  auto down = [](const char* method) { return std::string(kDownHead) + method + kDownTail; };
  std::vector<std::string> ins{"instruction"};
  return {
      {"add_constraints", depth(kMethodConstraints), ins, ins},
      {"deepening", depth(kMethodDeepening), ins, ins},
      {"concretizing", depth(kMethodConcretizing), ins, ins},
      {"increase_reasoning", depth(kMethodReasoning), ins, ins},
      {"complicate_input", depth(kMethodComplicateInput), ins, ins},
      {"breadth", kBreadth, ins, ins},
      {"downward", down(kMethodDownward), ins, ins},
      {"downward_topic", down(kMethodDownwardTopic), ins, ins},
      {"equality", kEquality, {"first", "second"}, {"first", "second"}},
      {"answer_system", kAnswerSystem, {}, {}},
      {"answer", kAnswer, ins, ins},
      {"rank", kRank, {"instruction", "candidates", "n"}, {"candidates"}},
      {"judge_steps", kJudge, {"question", "steps", "n"}, {"question", "steps"}},
  };
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Calls f(name, begin, end) for each {name} placeholder; {{ and }} are skipped as escapes.
template <class F>
void scan(const std::string& t, F f) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '{' && i + 1 < t.size() && t[i + 1] == '{') {
      ++i;
      continue;
    }
    if (t[i] != '{') continue;
    size_t j = i + 1;
    while (j < t.size() && ident_char(t[j])) ++j;
    if (j > i + 1 && j < t.size() && t[j] == '}') {
      f(t.substr(i + 1, j - i - 1), i, j + 1);
      i = j;
    }
  }
}

}  // namespace

std::vector<std::string> prompt_names() {
  std::vector<std::string> n;
  for (auto& b : builtins()) n.push_back(b.name);
  return n;
}

PromptTemplate::PromptTemplate(std::string text, const std::vector<std::string>& allowed,
                               const std::vector<std::string>& required, std::string origin)
    : text_(std::move(text)), origin_(std::move(origin)) {
  std::vector<std::string> seen;
  scan(text_, [&](const std::string& name, size_t, size_t) {
    bool ok = false;
    for (auto& a : allowed) ok = ok || a == name;
    if (!ok) {
      std::vector<std::string> braced;
      for (auto& a : allowed) braced.push_back("{" + a + "}");
      std::string hint = nearest(name, allowed);
      RLEIF_FAIL(origin_, ": unknown placeholder {", name, "}",
                 hint.empty() ? "" : "; did you mean {" + hint + "}?",
                 " Allowed here: ", braced.empty() ? std::string("none") : join(braced, ", "),
                 " (write {{ and }} for literal braces)");
    }
    seen.push_back(name);
  });
  for (auto& r : required) {
    bool ok = false;
    for (auto& s : seen) ok = ok || s == r;
    RLEIF_CHECK(ok, origin_, ": the template has no {", r, "} placeholder; the teacher would never see the ", r);
  }
}

std::string PromptTemplate::fill(const std::map<std::string, std::string>& values) const {
  std::string out;
  size_t last = 0;
  auto literal = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      out += text_[i];
      if ((text_[i] == '{' || text_[i] == '}') && i + 1 < to && text_[i + 1] == text_[i]) ++i;
    }
  };
  scan(text_, [&](const std::string& name, size_t b, size_t e) {
    literal(last, b);
    auto it = values.find(name);
    RLEIF_CHECK(it != values.end(), origin_, ": no value for {", name, "}");
    out += it->second;
    last = e;
  });
  literal(last, text_.size());
  return out;
}

std::optional<std::map<std::string, std::string>> PromptTemplate::match(const std::string& filled) const {
  // Split the template into literal parts and placeholder names: L0 {p1} L1 ... {pn} Ln.
  std::vector<std::string> literals, names;
  size_t last = 0;
  auto unescape = [&](size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) {
      out += text_[i];
      if ((text_[i] == '{' || text_[i] == '}') && i + 1 < to && text_[i + 1] == text_[i]) ++i;
    }
    return out;
  };
  scan(text_, [&](const std::string& name, size_t b, size_t e) {
    literals.push_back(unescape(last, b));
    names.push_back(name);
    last = e;
  });
  literals.push_back(unescape(last, text_.size()));
  const std::string& head = literals.front();
  const std::string& tail = literals.back();
  if (filled.size() < head.size() + tail.size() || filled.compare(0, head.size(), head) != 0 ||
      filled.compare(filled.size() - tail.size(), tail.size(), tail) != 0)
    return std::nullopt;
  std::map<std::string, std::string> out;
  if (names.empty()) return filled == head ? std::optional(out) : std::nullopt;
  size_t pos = head.size(), end = filled.size() - tail.size();
  for (size_t i = 0; i < names.size(); ++i) {
    size_t next = end;
    if (i + 1 < names.size()) {
      next = filled.find(literals[i + 1], pos);
      if (next == std::string::npos || next > end) return std::nullopt;
    }
    out[names[i]] = filled.substr(pos, next - pos);
    pos = next + (i + 1 < names.size() ? literals[i + 1].size() : 0);
  }
  return out;
}

Prompts Prompts::load(const std::string& dir) {
  std::map<std::string, std::string> files;
  if (!dir.empty()) {
    RLEIF_CHECK(is_directory(dir), "evolution.prompts_dir: '", dir, "' is not a directory");
    auto names = prompt_names();
    for (auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".txt") continue;
      std::string stem = entry.path().stem().string();
      bool known = false;
      for (auto& n : names) known = known || n == stem;
      std::string hint = nearest(stem, names);
      RLEIF_CHECK(known, entry.path().string(), ": no prompt is called '", stem, "'",
                  hint.empty() ? "" : "; did you mean '" + hint + ".txt'?", " Prompt files: ", join(names, ".txt, "),
                  ".txt");
      std::string text = read_file(entry.path().string());
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      files[stem] = text;
    }
  }
  Prompts p;
  for (auto& b : builtins()) {
    auto it = files.find(b.name);
    std::string origin = it == files.end() ? str("built-in prompt '", b.name, "'") : str(dir, "/", b.name, ".txt");
    PromptTemplate t(it == files.end() ? b.text : it->second, b.allowed, b.required, origin);
    std::string name = b.name;
    bool op = false;
    for (int k = 0; k < kEvolOps; ++k) {
      if (name == enum_name(static_cast<EvolOp>(k))) {
        p.evolve[k] = t;
        op = true;
      }
    }
    if (op) continue;
    if (name == "equality") p.equality = t;
    else if (name == "answer_system") p.answer_system = t.fill({});
    else if (name == "answer") p.answer = t;
    else if (name == "rank") p.rank = t;
    else if (name == "judge_steps") p.judge_steps = t;
  }
  return p;
}

Messages Prompts::evolve_messages(EvolOp op, const std::string& instruction) const {
  // Evol-Instruct's evolver runs with this system prompt (Evol_Instruct/openai_access.py).
  return {{"system", "You are a helpful assistant."},
          {"user", evolve[static_cast<int>(op)].fill({{"instruction", instruction}})}};
}

Messages Prompts::equality_messages(const std::string& first, const std::string& second) const {
  return {{"system", "You are a helpful assistant."}, {"user", equality.fill({{"first", first}, {"second", second}})}};
}

Messages Prompts::answer_messages(const std::string& instruction) const {
  return {{"system", answer_system}, {"user", answer.fill({{"instruction", instruction}})}};
}

Messages Prompts::rank_messages(const std::string& original, const std::vector<std::string>& candidates) const {
  std::string list;
  for (size_t i = 0; i < candidates.size(); ++i) list += str(i ? "\n" : "", "[", i + 1, "] ", candidates[i]);
  return {{"system", "You are a helpful assistant."},
          {"user", rank.fill({{"instruction", original}, {"candidates", list}, {"n", std::to_string(candidates.size())}})}};
}

Messages Prompts::judge_messages(const std::string& question, const std::vector<std::string>& steps) const {
  std::string list;
  for (size_t i = 0; i < steps.size(); ++i) list += str(i ? "\n" : "", "Step ", i + 1, ": ", steps[i]);
  return {{"system", "You are a helpful assistant."},
          {"user", judge_steps.fill({{"question", question}, {"steps", list}, {"n", std::to_string(steps.size())}})}};
}

}  // namespace rleif::evol
