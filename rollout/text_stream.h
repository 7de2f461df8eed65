// Text of a growing token sequence, emitted as stable deltas, and stop-string matching over those
// deltas (a stop string may span several tokens and several deltas).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace rleif::rollout {

// Incremental detokenisation (the prefix/read-offset scheme of vLLM and TGI): each push decodes a
// short window and returns only text that can no longer change, holding back a trailing incomplete
// UTF-8 character. The window starts with a few prompt tokens, so a first generated token that opens
// with a space keeps it (SentencePiece decoders strip the space of a sequence's first token).
class Detokenizer {
 public:
  Detokenizer() = default;
  Detokenizer(const Tokenizer* tokenizer, const std::vector<int32_t>& prompt, size_t context = 4);
  // Appends one generated token; returns the new stable text (often empty for special tokens).
  std::string push(int32_t id);
  // Text still held back at the end of generation (an incomplete character is returned as is).
  std::string flush();

 private:
  const Tokenizer* tok_ = nullptr;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0;  // first id of the decode window
  size_t read_ = 0;    // ids before read_ have had their text emitted
};

// True when `text` ends inside a UTF-8 character or with U+FFFD (a decoder's stand-in for bytes of
// a character whose remaining bytes are still to come).
bool ends_incomplete_utf8(const std::string& text);

// Finds the earliest occurrence of any stop string in a text that arrives in pieces. Text that could
// be the start of a stop string is held back, so the emitted text never contains part of one.
class StopMatcher {
 public:
  StopMatcher() = default;
  explicit StopMatcher(std::vector<std::string> stops);
  // Feeds a delta; returns what can be emitted now. After a match, stopped() is true, the returned
  // text ends right before the stop string, and further input is ignored.
  std::string feed(const std::string& delta);
  // The held-back text, at the end of generation without a match.
  std::string flush();
  bool stopped() const { return stopped_; }
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace rleif::rollout
