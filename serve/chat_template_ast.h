// The parsed form of a chat template (internal to serve/): expression and statement trees shared by
// the parser (chat_template.cc) and the renderer (chat_template_eval.cc).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "serve/chat_template.h"

namespace rleif::serve {

// The value of an undefined name or missing attribute (renders as "", is falsy).
inline const json& undefined_value() {
  static const json u = json(json::value_t::discarded);
  return u;
}
inline bool is_undef(const json& v) { return v.is_discarded(); }

// An expression node; kids hold operands (binary: a, b; cond: test, then, else; attr/filter/test/
// call: the subject first, then arguments).
struct Expr {
  enum Kind { literal, var, list, dict, attr, index, slice, call, filter, test, unary, binary, cond } kind;
  json value;        // literal
  std::string name;  // var / attr / call target / filter / test / operator
  std::vector<std::unique_ptr<Expr>> kids;
  std::vector<std::string> kw;  // keyword argument names of a call (aligned with the last kids)
};
using ExprP = std::unique_ptr<Expr>;

struct ChatTemplate::Node {
  enum Kind { kText, kOutput, kIf, kFor, kSet } kind;
  std::string text;                       // text
  ExprP expr;                             // output / set value / for iterable
  std::vector<std::string> targets;       // for: loop variables; set: name (and attribute)
  std::vector<std::pair<ExprP, std::vector<std::unique_ptr<Node>>>> branches;  // if: (cond, body)...
  std::vector<std::unique_ptr<Node>> body, else_body;                           // for, if-else
};

using NodeP = std::unique_ptr<ChatTemplate::Node>;
using Nodes = std::vector<NodeP>;

}  // namespace rleif::serve
