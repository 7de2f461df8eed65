// Chat templates: the Jinja subset Hugging Face chat templates use (tokenizer_config.json's
// "chat_template"), rendered the way transformers' apply_chat_template does (trim_blocks and
// lstrip_blocks on). Supported: {{ }}, {% if/elif/else %}, {% for x in xs %} with loop.*, {% set %},
// {# #}, whitespace control (-), literals, lists, dicts, attribute and item access, slices, + - * / %
// ~, comparisons, and/or/not, in, `is [not] defined/none/string/...`, x if c else y, filters
// (trim, length, upper, lower, tojson, string, first, last, join, default), string methods (strip,
// lstrip, rstrip, upper, lower, startswith, endswith, split, title, replace) and raise_exception.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::serve {

class ChatTemplate {
 public:
  // Parses the template; throws rleif::Error naming `where` and the offset for a syntax error or an
  // unsupported construct.
  ChatTemplate(const std::string& source, const std::string& where);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with variables `vars` (messages, add_generation_prompt, bos_token, eos_token, ...).
  // raise_exception(msg) in the template, or an evaluation error, throws rleif::Error.
  std::string render(const json& vars) const;

  // The template of a model directory: tokenizer_config.json's "chat_template" (a string, or the
  // entry named "default" of a list), or chat_template.jinja; empty when it has none.
  static std::string find_in(const std::string& model_dir);

  struct Node;

 private:
  std::vector<std::unique_ptr<Node>> body_;
};

}  // namespace rleif::serve
