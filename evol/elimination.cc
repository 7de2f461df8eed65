#include "evol/elimination.h"

#include <cctype>
#include <set>

#include "core/answer.h"
#include "core/error.h"

namespace rleif::evol {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// NLTK's English stop-word list (nltk_data corpora/stopwords/english), the list Evol-Instruct-style
// filters commonly use for rule 3.
const std::set<std::string>& stop_words() {
  static const std::set<std::string> w{
      "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll", "you'd",
      "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's", "her", "hers",
      "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which",
      "who", "whom", "this", "that", "that'll", "these", "those", "am", "is", "are", "was", "were", "be", "been",
      "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if",
      "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between",
      "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out",
      "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why",
      "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
      "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "don't",
      "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "aren't", "couldn",
      "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't",
      "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't",
      "shouldn", "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't"};
  return w;
}

// Words of the evolving prompts that must not leak into an evolved instruction (rule 4).
constexpr const char* kTemplateWords[] = {"#rewritten prompt#", "#the given prompt#", "#given prompt#",
                                          "#created prompt#",   "given prompt",       "rewritten prompt",
                                          "created prompt"};

}  // namespace

void EliminationOptions::validate() const {
  RLEIF_CHECK(sorry_max_words >= 0, "elimination.sorry_max_words: must be >= 0, got ", sorry_max_words);
}

int word_count(std::string_view text) {
  int n = 0;
  bool in = false;
  for (char c : text) {
    bool space = std::isspace(static_cast<unsigned char>(c));
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

bool only_stop_words(std::string_view text) {
  std::string word;
  auto flush = [&]() {
    bool ok = word.empty() || stop_words().count(word);
    word.clear();
    return ok;
  };
  for (char c : lower(text)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalpha(u) || c == '\'') {
      word += c;
      continue;
    }
    if (!flush()) return false;
    if (std::isdigit(u) || u >= 0x80) return false;  // numbers and non-ASCII text are content
  }
  return flush();
}

std::optional<std::string> check_instruction(std::string_view instruction) {
  std::string low = lower(instruction);
  if (word_count(low) == 0) return std::string(reason::kEmptyInstruction);
  for (const char* w : kTemplateWords)
    if (low.find(w) != std::string::npos) return std::string(reason::kCopiedTemplate);
  return std::nullopt;
}

std::optional<std::string> check_response(std::string_view response, const EliminationOptions& opts) {
  std::string low = lower(response);
  if (low.find("sorry") != std::string::npos && word_count(low) < opts.sorry_max_words)
    return std::string(reason::kSorryShort);
  if (only_stop_words(low)) return std::string(reason::kStopWordsOnly);
  if (opts.require_answer) {
    auto ans = extract_answer(response);
    if (!ans) return std::string(reason::kNoFinalAnswer);
    if (opts.numeric_answer && !parse_number(*ans)) return std::string(reason::kUnparseableAnswer);
  }
  return std::nullopt;
}

}  // namespace rleif::evol
