// ConfigArgs: the command-line side of the config system (cli/command.h).
#include <yaml-cpp/yaml.h>

#include "cli/command.h"

namespace rleif::cli {
namespace {

// VALUE as a YAML double-quoted scalar, so apply_override reads it back as exactly this text.
std::string quoted(const std::string& value) {
  YAML::Emitter e;
  e << YAML::DoubleQuoted << value;
  return e.c_str();
}

std::string quoted_list(const std::vector<std::string>& values) {
  YAML::Emitter e;
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto& v : values) e << YAML::DoubleQuoted << v;
  e << YAML::EndSeq;
  return e.c_str();
}

}  // namespace

void ConfigArgs::add_to(CLI::App& app) {
  app.add_option("--config", config_path, "YAML config file (keys as in --help-config)");
  app.add_option("overrides", overrides, "dotted key=value overrides, e.g. sampling.temperature=0.7");
  app.add_flag("--print-config", print_config, "print the resolved config as YAML and exit");
  app.add_flag("--help-config", help_config, "list every config key with its default and doc, and exit");
}

ConfigArgs::Binding& ConfigArgs::add_binding(Kind kind, const std::string& flag, std::vector<std::string> keys) {
  Binding& b = bindings_.emplace_back();
  b.kind = kind;
  b.flag = flag.substr(0, flag.find(','));
  b.keys = std::move(keys);
  return b;
}

CLI::Option* ConfigArgs::bind(CLI::App& app, const std::string& flag, std::vector<std::string> keys,
                              const std::string& help) {
  Binding& b = add_binding(Kind::value, flag, std::move(keys));
  return b.option = app.add_option(flag, b.value, help);
}

CLI::Option* ConfigArgs::bind_text(CLI::App& app, const std::string& flag, const std::string& key,
                                   const std::string& help) {
  Binding& b = add_binding(Kind::text, flag, {key});
  return b.option = app.add_option(flag, b.value, help);
}

CLI::Option* ConfigArgs::bind_list(CLI::App& app, const std::string& flag, const std::string& key,
                                   const std::string& help) {
  Binding& b = add_binding(Kind::list, flag, {key});
  // One value per occurrence, so trailing key=value overrides are not taken as more values.
  return b.option = app.add_option(flag, b.values, help)->allow_extra_args(false);
}

std::vector<ConfigArgs::FlagOverride> ConfigArgs::flag_overrides() const {
  std::vector<FlagOverride> out;
  for (const Binding& b : bindings_) {
    if (b.option->count() == 0) continue;
    std::string value, shown;
    switch (b.kind) {
      case Kind::value: value = b.value, shown = b.value; break;
      case Kind::text: value = quoted(b.value), shown = b.value; break;
      case Kind::list: value = quoted_list(b.values), shown = join(b.values, "', '"); break;
    }
    for (const auto& key : b.keys) out.push_back({key + "=" + value, b.flag + " '" + shown + "'"});
  }
  return out;
}

}  // namespace rleif::cli
