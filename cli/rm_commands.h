// Subcommands of `rleif rm` defined outside cli/cmd_rm.cc. Each setup function adds its options to
// the subcommand `sub` and returns the action to run once parsing succeeds (as Command::setup does).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace rleif::cli {

// `rleif rm label-mc`: Math-Shepherd Monte-Carlo step labels (rm/label_mc.h, docs/RM_LABELS.md).
std::function<int()> setup_rm_label_mc(CLI::App& sub);

}  // namespace rleif::cli
