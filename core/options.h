// Options structs and the config system.
//
// Each component has one options struct. Its fields, defaults and one-line docs are declared once,
// in visit(); YAML loading, dotted command-line overrides, --print-config and --help all walk it:
//
//   struct SamplingOptions {
//     double temperature = 1.0;   // default lives on the member
//     template <class V> void visit(V& v) {
//       v.field("temperature", temperature, "softmax temperature; 0 = greedy");
//     }
//     void validate() const;      // optional: cross-field checks with fix-it messages
//   };
//   struct GenerateConfig {
//     SamplingOptions sampling;
//     template <class V> void visit(V& v) { v.section("sampling", sampling, "how tokens are drawn"); }
//   };
//
// Enums are named at the parsing boundary: RLEIF_ENUM_NAMES(KlEstimator, {KlEstimator::k1, "k1"}, ...).
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/strings.h"

namespace rleif {

// EnumNames<T>::list() -> vector<pair<T, const char*>>; specialise with RLEIF_ENUM_NAMES.
template <class T>
struct EnumNames;

#define RLEIF_ENUM_NAMES(Type, ...)                                         \
  template <>                                                               \
  struct rleif::EnumNames<Type> {                                           \
    static const std::vector<std::pair<Type, const char*>>& list() {        \
      static const std::vector<std::pair<Type, const char*>> l{__VA_ARGS__}; \
      return l;                                                             \
    }                                                                       \
  }

template <class T>
const char* enum_name(T v) {
  for (auto& [e, n] : EnumNames<T>::list())
    if (e == v) return n;
  return "?";
}
template <class T>
std::string enum_choices() {
  std::vector<std::string> names;
  for (auto& [e, n] : EnumNames<T>::list()) names.push_back(n);
  return join(names, " | ");
}
// Parses an enum name; throws naming `where` and the allowed names.
template <class T>
T parse_enum(const std::string& name, const std::string& where) {
  for (auto& [e, n] : EnumNames<T>::list())
    if (name == n) return e;
  RLEIF_FAIL(where, ": '", name, "' is not one of ", enum_choices<T>());
}

namespace options_detail {

template <class T, class = void>
struct has_validate : std::false_type {};
template <class T>
struct has_validate<T, std::void_t<decltype(std::declval<const T&>().validate())>> : std::true_type {};

template <class T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_integral_v<T>) return "int";
  else if constexpr (std::is_floating_point_v<T>) return "float";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_enum_v<T>) return enum_choices<T>();
  else return "list";
}

template <class T>
YAML::Node to_yaml(const T& v) {
  if constexpr (std::is_enum_v<T>) return YAML::Node(std::string(enum_name(v)));
  else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) {
    std::ostringstream os;
    os.precision(10);
    os << v;
    return YAML::Node(os.str());
  } else return YAML::Node(v);
}

template <class T>
T from_yaml(const YAML::Node& n, const std::string& where) {
  if constexpr (std::is_enum_v<T>) {
    RLEIF_CHECK(n.IsScalar(), where, ": expected one of ", enum_choices<T>());
    return parse_enum<T>(n.Scalar(), where);
  } else {
    try {
      if constexpr (std::is_same_v<T, bool>) {
        // yaml-cpp accepts y/n/on/off; be strict: true/false/1/0 only.
        RLEIF_CHECK(n.IsScalar(), where, ": expected true or false");
        std::string s = n.Scalar();
        if (s == "true" || s == "1" || s == "True") return true;
        if (s == "false" || s == "0" || s == "False") return false;
        RLEIF_FAIL(where, ": expected true or false, got '", s, "'");
      } else {
        return n.as<T>();
      }
    } catch (const YAML::Exception&) {
      std::string got = n.IsScalar() ? "'" + n.Scalar() + "'" : std::string(n.IsSequence() ? "a list" : "a mapping");
      RLEIF_FAIL(where, ": expected ", type_name<T>(), ", got ", got);
    }
  }
}

// Collects every dotted key of an options tree (for unknown-key suggestions).
struct KeyCollector {
  std::string prefix;
  std::vector<std::string>* keys;
  template <class T>
  void field(const char* name, T&, const char*) { keys->push_back(prefix + name); }
  template <class S>
  void section(const char* name, S& s, const char*) {
    KeyCollector sub{prefix + name + ".", keys};
    s.visit(sub);
  }
};

// Applies a YAML mapping to an options tree; unknown keys are errors naming `origin`.
struct Loader {
  const YAML::Node& node;
  std::string prefix;
  std::string origin;
  const std::vector<std::string>* all_keys;
  std::vector<std::string> seen;

  template <class T>
  void field(const char* name, T& v, const char*) {
    seen.push_back(name);
    const YAML::Node child = node[name];
    if (!child.IsDefined() || child.IsNull()) return;
    v = from_yaml<T>(child, origin + ": '" + prefix + name + "'");
  }
  template <class S>
  void section(const char* name, S& s, const char*) {
    seen.push_back(name);
    const YAML::Node child = node[name];
    if (!child.IsDefined() || child.IsNull()) return;
    RLEIF_CHECK(child.IsMap(), origin, ": '", prefix, name, "' is a section; give it a mapping of keys");
    Loader sub{child, prefix + name + ".", origin, all_keys, {}};
    s.visit(sub);
    sub.check_unknown();
  }
  void check_unknown() const {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Mark m = it->first.Mark();
      RLEIF_CHECK(it->first.IsScalar(), origin, m.is_null() ? std::string() : str(":", m.line + 1), ": a key ",
                  prefix.empty() ? std::string() : "under '" + prefix.substr(0, prefix.size() - 1) + "' ",
                  "is ", it->first.IsSequence() ? "a list" : it->first.IsMap() ? "a mapping" : "empty",
                  "; keys must be plain names like 'lr'");
      std::string k = it->first.Scalar();
      bool ok = false;
      for (auto& s : seen) ok = ok || s == k;
      if (ok) continue;
      std::string full = prefix + k;
      std::string hint = nearest(full, *all_keys);
      RLEIF_FAIL(origin, ": unknown key '", full, "'",
                 hint.empty() ? std::string("; run with --help-config to list the keys")
                              : "; did you mean '" + hint + "'?");
    }
  }
};

struct Dumper {
  YAML::Node node;
  template <class T>
  void field(const char* name, T& v, const char*) {
    if constexpr (std::is_enum_v<T> || !std::is_class_v<T> || std::is_same_v<T, std::string>)
      node[name] = to_yaml(v);
    else
      node[name] = v;  // std::vector<...>
  }
  template <class S>
  void section(const char* name, S& s, const char*) {
    Dumper sub;
    s.visit(sub);
    node[name] = sub.node;
  }
};

struct HelpPrinter {
  std::string prefix;
  std::ostringstream* os;
  template <class T>
  void field(const char* name, T& v, const char* doc) {
    YAML::Emitter e;
    e << YAML::Flow;
    if constexpr (std::is_enum_v<T> || !std::is_class_v<T> || std::is_same_v<T, std::string>) e << to_yaml(v);
    else e << YAML::Node(v);
    *os << "  " << prefix << name << " = " << e.c_str() << "  (" << type_name<T>() << ") " << doc << "\n";
  }
  template <class S>
  void section(const char* name, S& s, const char* doc) {
    *os << "  # " << prefix << name << ": " << doc << "\n";
    HelpPrinter sub{prefix + name + ".", os};
    s.visit(sub);
  }
};

struct Validator {
  template <class T>
  void field(const char*, T&, const char*) {}
  template <class S>
  void section(const char*, S& s, const char*) {
    s.visit(*this);
    if constexpr (has_validate<S>::value) s.validate();
  }
};

}  // namespace options_detail

template <class T>
std::vector<std::string> option_keys(T& opts) {
  std::vector<std::string> keys;
  options_detail::KeyCollector c{"", &keys};
  opts.visit(c);
  return keys;
}

// Applies a YAML mapping to `opts`. `origin` names the source in errors (a file path).
template <class T>
void apply_yaml(T& opts, const YAML::Node& root, const std::string& origin) {
  if (!root.IsDefined() || root.IsNull()) return;
  RLEIF_CHECK(root.IsMap(), origin, ": expected a mapping of keys at the top level");
  auto keys = option_keys(opts);
  options_detail::Loader l{root, "", origin, &keys, {}};
  opts.visit(l);
  l.check_unknown();
}

// Applies one "a.b.c=value" override; the value is parsed as YAML ("[1, 2]" is a list). `origin`
// names the source in errors (default: the assignment as given on the command line).
template <class T>
void apply_override(T& opts, const std::string& assignment, const std::string& origin = "") {
  size_t eq = assignment.find('=');
  RLEIF_CHECK(eq != std::string::npos && eq > 0, "override '", assignment,
              "': expected key=value, for example sampling.temperature=0.7");
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  YAML::Node leaf;
  try {
    leaf = YAML::Load(value);
  } catch (const YAML::Exception&) {
    leaf = YAML::Node(value);
  }
  if (!leaf.IsDefined() || leaf.IsNull()) leaf = YAML::Node(value);
  auto parts = split(key, '.');
  YAML::Node root(YAML::NodeType::Map);
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  cur[parts.back()] = leaf;
  apply_yaml(opts, root, origin.empty() ? "command line '" + assignment + "'" : origin);
}

// Runs validate() on every section that has one, then on the root.
template <class T>
void validate_options(T& opts) {
  options_detail::Validator v;
  opts.visit(v);
  if constexpr (options_detail::has_validate<T>::value) opts.validate();
}

// Loads a YAML file into `opts` (path may be empty), then applies overrides in order, then validates.
template <class T>
void load_options(T& opts, const std::string& yaml_path, const std::vector<std::string>& overrides) {
  if (!yaml_path.empty()) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(yaml_path);
    } catch (const YAML::BadFile&) {
      RLEIF_FAIL(yaml_path, ": cannot open config file");
    } catch (const YAML::Exception& e) {
      RLEIF_FAIL(yaml_path, ":", e.mark.line + 1, ": invalid YAML (", e.msg, ")");
    }
    apply_yaml(opts, root, yaml_path);
  }
  for (const auto& o : overrides) apply_override(opts, o);
  validate_options(opts);
}

// The resolved options as YAML text (what --print-config prints and checkpoints store).
template <class T>
std::string dump_options(T& opts) {
  options_detail::Dumper d;
  opts.visit(d);
  YAML::Emitter e;
  e << d.node;
  return std::string(e.c_str()) + "\n";
}

// One line per key: name = default (type) doc.
template <class T>
std::string options_help(T& opts) {
  std::ostringstream os;
  options_detail::HelpPrinter h{"", &os};
  opts.visit(h);
  return os.str();
}

}  // namespace rleif
