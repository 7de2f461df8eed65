#include "rollout/text_stream.h"

#include <algorithm>

namespace rleif::rollout {

bool ends_incomplete_utf8(const std::string& text) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0) return true;
  // Walk back over continuation bytes (10xxxxxx) to the lead byte and compare the lengths.
  size_t i = text.size(), cont = 0;
  while (i > 0 && (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80 && cont < 4) --i, ++cont;
  if (i == 0) return cont > 0;
  const unsigned char lead = static_cast<unsigned char>(text[i - 1]);
  size_t need = 0;
  if ((lead & 0x80) == 0) need = 0;
  else if ((lead & 0xE0) == 0xC0) need = 1;
  else if ((lead & 0xF0) == 0xE0) need = 2;
  else if ((lead & 0xF8) == 0xF0) need = 3;
  else return false;  // stray byte: nothing more will complete it
  return cont < need;
}

Detokenizer::Detokenizer(const Tokenizer* tokenizer, const std::vector<int32_t>& prompt, size_t context)
    : tok_(tokenizer) {
  const size_t keep = std::min(context, prompt.size());
  ids_.assign(prompt.end() - static_cast<std::ptrdiff_t>(keep), prompt.end());
  prefix_ = 0;
  read_ = ids_.size();
}

std::string Detokenizer::push(int32_t id) {
  ids_.push_back(id);
  if (!tok_) return {};
  const std::vector<int32_t> head(ids_.begin() + prefix_, ids_.begin() + read_);
  const std::vector<int32_t> window(ids_.begin() + prefix_, ids_.end());
  const std::string before = tok_->decode(head, /*skip_special_tokens=*/true);
  const std::string now = tok_->decode(window, /*skip_special_tokens=*/true);
  if (now.size() <= before.size() || ends_incomplete_utf8(now)) return {};
  std::string delta = now.substr(before.size());
  prefix_ = read_;
  read_ = ids_.size();
  return delta;
}

std::string Detokenizer::flush() {
  if (!tok_ || read_ >= ids_.size()) return {};
  const std::vector<int32_t> head(ids_.begin() + prefix_, ids_.begin() + read_);
  const std::vector<int32_t> window(ids_.begin() + prefix_, ids_.end());
  const std::string before = tok_->decode(head, true);
  const std::string now = tok_->decode(window, true);
  read_ = ids_.size();
  prefix_ = read_;
  return now.size() > before.size() ? now.substr(before.size()) : std::string();
}

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

std::string StopMatcher::feed(const std::string& delta) {
  if (stopped_) return {};
  if (stops_.empty()) return delta;
  std::string buf = pending_ + delta;
  pending_.clear();
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, buf.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    return buf.substr(0, first);
  }
  // Hold back the longest suffix of buf that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t len = std::min(s.size() - 1, buf.size()); len > hold; --len) {
      if (buf.compare(buf.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  pending_ = buf.substr(buf.size() - hold);
  return buf.substr(0, buf.size() - hold);
}

std::string StopMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  return out;
}

}  // namespace rleif::rollout
