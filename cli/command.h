// Subcommand registry: each cli/cmd_*.cc registers itself with RLEIF_COMMAND, so adding a
// subcommand touches one file. Common config arguments (--config, key=value overrides,
// --print-config, --help-config) come from ConfigArgs.
#pragma once
#include <CLI/CLI.hpp>

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

// --config FILE, trailing key=value overrides, --print-config, --help-config.
struct ConfigArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  bool print_config = false;
  bool help_config = false;
  void add_to(CLI::App& app);
};

// Loads opts from the config file and overrides (flags set earlier go in `flag_overrides`, applied
// before the command-line key=value ones). Returns false when the command should exit now
// (--print-config / --help-config printed).
template <class T>
bool resolve_config(T& opts, const ConfigArgs& a, const std::vector<std::string>& flag_overrides = {}) {
  if (a.help_config) {
    std::cout << options_help(opts);
    return false;
  }
  std::vector<std::string> all = flag_overrides;
  all.insert(all.end(), a.overrides.begin(), a.overrides.end());
  load_options(opts, a.config_path, all);
  if (a.print_config) {
    std::cout << dump_options(opts);
    return false;
  }
  return true;
}

}  // namespace rleif::cli
