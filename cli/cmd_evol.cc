// rleif evol: Evol-Instruct with a teacher LLM, elimination, answers, IRM ranking lists and PRM step
// labels (evol/engine.h). Kill it at any point and run the same command again to resume.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "evol/engine.h"

namespace rleif::cli {
namespace {

std::atomic<bool> g_stop{false};

// First SIGINT/SIGTERM: finish the requests in flight, journal, exit. SA_RESETHAND makes a second
// one kill at once (still safe: the journal and the response cache survive kill -9).
void on_stop_signal(int) { g_stop.store(true); }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

RLEIF_COMMAND(evol, "evol",
              "evolve instructions with a teacher LLM (Evol-Instruct, WizardMath up/down), eliminate, answer, "
              "rank for the IRM and label steps for the PRM; resumable",
              [](CLI::App& app) -> std::function<int()> {
                auto args = std::make_shared<ConfigArgs>();
                args->add_to(app);
                return [args]() -> int {
                  evol::EvolConfig cfg;
                  if (!resolve_config(cfg, *args)) return 0;
                  install_stop_handlers();
                  evol::EvolRunResult r = evol::run_evol(cfg, &g_stop);
                  std::cout << r.message << std::endl;
                  return r.complete ? 0 : 130;
                };
              });

}  // namespace rleif::cli
