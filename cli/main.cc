// The rleif binary: dispatches to the subcommands registered in cli/cmd_*.cc.
#include <c10/util/Exception.h>

#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/memory.h"

namespace rleif::cli {

std::vector<Command>& commands() {
  static std::vector<Command> c;
  return c;
}

}  // namespace rleif::cli

int main(int argc, char** argv) {
  using namespace rleif::cli;
  rleif::retain_freed_memory();
  CLI::App app{"rleif: native toolkit for WizardMath's Reinforced Evol-Instruct (evol, IRM/PRM, PPO, best-of-n)"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("rleif ") + RLEIF_VERSION);
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("-q,--quiet", quiet, "warnings and errors only");
  std::function<int()> action;
  auto& cmds = commands();
  std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    auto act = c.setup(*sub);
    sub->callback([&action, act] { action = act; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) rleif::set_log_level(rleif::LogLevel::debug);
  if (quiet) rleif::set_log_level(rleif::LogLevel::warn);
  if (!action) {
    std::cout << app.help();
    return 0;
  }
  try {
    return action();
  } catch (const rleif::Error& e) {
    std::cerr << "rleif: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "rleif: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "rleif: error: " << e.what() << "\n";
    return 1;
  }
}
