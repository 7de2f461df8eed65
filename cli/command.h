// Subcommand registry: each cli/cmd_*.cc registers itself with RLEIF_COMMAND, so adding a
// subcommand touches one file. Common config arguments (--config, flags bound to config keys,
// key=value overrides, --print-config, --help-config) come from ConfigArgs.
#pragma once
#include <CLI/CLI.hpp>

#include <deque>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "core/options.h"

namespace rleif::cli {

struct Command {
  std::string name;
  std::string help;
  // Adds options to `app` and returns the action to run once parsing succeeds.
  std::function<std::function<int()>(CLI::App& app)> setup;
};

std::vector<Command>& commands();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { commands().push_back(std::move(c)); }
};
#define RLEIF_COMMAND(ident, ...) static ::rleif::cli::CommandRegistrar rleif_cmd_##ident{::rleif::cli::Command{__VA_ARGS__}}

// --config FILE, trailing key=value overrides, --print-config, --help-config, and the one binder of
// command-line flags to config keys every subcommand uses: a flag given becomes overrides of its
// keys, so the precedence is defaults < --config file < flags < trailing key=value overrides, and
// validation sees the flags.
struct ConfigArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  bool print_config = false;
  bool help_config = false;
  void add_to(CLI::App& app);

  // --flag VALUE sets each of `keys` to VALUE, read as the key's type (number, bool, enum name, list).
  // `flag` may name aliases ("--out,--output"); errors name the first.
  CLI::Option* bind(CLI::App& app, const std::string& flag, std::vector<std::string> keys, const std::string& help);
  // --flag VALUE sets the string `key` to VALUE verbatim (paths, titles: no character is read as YAML).
  CLI::Option* bind_text(CLI::App& app, const std::string& flag, const std::string& key, const std::string& help);
  // --flag VALUE, repeatable, one value per occurrence: sets the list `key` to the values, verbatim.
  CLI::Option* bind_list(CLI::App& app, const std::string& flag, const std::string& key, const std::string& help);

  struct FlagOverride {
    std::string assignment;  // key=value, as apply_override reads it
    std::string origin;      // the flag and its value, for errors: "--temperature 'hot'"
  };
  // The flags given on the command line, as overrides in the order they were bound.
  std::vector<FlagOverride> flag_overrides() const;

 private:
  enum class Kind { value, text, list };
  struct Binding {
    Kind kind;
    std::string flag;  // the first name
    std::vector<std::string> keys;
    CLI::Option* option = nullptr;
    std::string value;                // Kind::value, Kind::text
    std::vector<std::string> values;  // Kind::list
  };
  Binding& add_binding(Kind kind, const std::string& flag, std::vector<std::string> keys);
  std::deque<Binding> bindings_;  // a deque: CLI11 writes into each element through a pointer
};

// Loads opts from the config file, the bound flags and the key=value overrides, then validates.
// A flag whose value does not fit its key fails naming the flag. Returns false when the command
// should exit now (--print-config / --help-config printed).
template <class T>
bool resolve_config(T& opts, const ConfigArgs& a) {
  if (a.help_config) {
    std::cout << options_help(opts);
    return false;
  }
  std::vector<std::string> all;
  for (const auto& f : a.flag_overrides()) {
    T probe = opts;  // a bad value fails here, naming the flag; load_options applies it for real
    apply_override(probe, f.assignment, f.origin);
    all.push_back(f.assignment);
  }
  all.insert(all.end(), a.overrides.begin(), a.overrides.end());
  load_options(opts, a.config_path, all);
  if (a.print_config) {
    std::cout << dump_options(opts);
    return false;
  }
  return true;
}

}  // namespace rleif::cli
