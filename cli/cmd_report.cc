// rleif report: the whole recipe on one self-contained HTML page (ppo/recipe_report.h): stage times,
// SFT and reward-model loss, PPO reward / r_I / r_A / KL / value loss / accuracy curves, held-out
// greedy accuracy by difficulty before and after PPO, best-of-n curves.
//   rleif report --demo runs/demo                 # scripts/demo's layout; writes runs/demo/report.html
//   rleif report --ppo-metrics base=a/metrics.jsonl --ppo-metrics grpo=b/metrics.jsonl --out cmp.html
// Explicit flags override what --demo finds; a file given by flag must exist, one --demo does not find
// is left out with a note.
#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "core/fs.h"
#include "core/log.h"
#include "ppo/recipe_report.h"

namespace rleif::cli {
namespace {

std::pair<std::string, std::string> named_file(const std::string& spec, const char* flag) {
  const size_t eq = spec.find('=');
  RLEIF_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < spec.size(), "report: ", flag, " '", spec,
              "' is not NAME=FILE; for example ", flag, " ppo=runs/demo/ppo/metrics.jsonl");
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

Command make_command() {
  return Command{
      "report",
      "one HTML report of the whole recipe (SFT, reward models, PPO curves, accuracy by difficulty before/after "
      "PPO, best-of-n, stage times) from a demo directory or explicit files",
      [](CLI::App& app) -> std::function<int()> {
        struct Flags {
          std::string demo, out, title, sft, data, before, after, bestofn, timings;
          std::vector<std::string> rm, ppo;
        };
        auto f = std::make_shared<Flags>();
        app.add_option("--demo", f->demo, "a scripts/demo output directory: fills every input below from its layout");
        app.add_option("--out,--output", f->out, "the HTML file to write (default with --demo: DIR/report.html)");
        app.add_option("--title", f->title, "page title");
        app.add_option("--sft-metrics", f->sft, "rleif sft metrics.jsonl (loss curve)");
        app.add_option("--rm-metrics", f->rm, "NAME=FILE: rleif rm train metrics.jsonl (repeatable)")->allow_extra_args(false);
        app.add_option("--ppo-metrics", f->ppo, "NAME=FILE: rleif ppo metrics.jsonl (repeatable: runs side by side)")
            ->allow_extra_args(false);
        app.add_option("--data", f->data, "problems with n_steps (rleif data synth's held_out.jsonl)");
        app.add_option("--eval-before", f->before, "rleif eval --out rows of the policy before PPO (SFT)");
        app.add_option("--eval-after", f->after, "rleif eval --out rows of the PPO policy");
        app.add_option("--bestofn", f->bestofn, "rleif bestofn's bestofn.json");
        app.add_option("--timings", f->timings, "stage times: {\"stage\", \"seconds\"} lines (scripts/demo's timings.jsonl)");
        return [f]() {
          ppo::RecipeReportInputs in;
          if (!f->demo.empty()) {
            RLEIF_CHECK(is_directory(f->demo), "report: --demo ", f->demo, ": no such directory; give scripts/demo's ",
                        "output directory (runs/demo)");
            in = ppo::demo_inputs(f->demo);
            if (f->out.empty()) f->out = f->demo + "/report.html";
          }
          RLEIF_CHECK(!f->out.empty(), "report: give the output file with --out FILE (or a demo directory with --demo)");
          // An explicit flag replaces what --demo found, and drops its note.
          auto drop_note = [&](const std::string& label) {  // demo_inputs' "LABEL: DIR/... not found"
            auto& n = in.notes;
            n.erase(std::remove_if(n.begin(), n.end(), [&](const std::string& s) { return s.rfind(label + ":", 0) == 0; }),
                    n.end());
          };
          auto set = [&](std::string& field, const std::string& value, const char* label) {
            if (value.empty()) return;
            RLEIF_CHECK(path_exists(value), "report: ", value, ": no such file");
            field = value;
            drop_note(label);
          };
          set(in.sft_metrics, f->sft, "SFT loss");
          set(in.data, f->data, "problems with n_steps");
          set(in.eval_before, f->before, "held-out accuracy before PPO (SFT policy)");
          set(in.eval_after, f->after, "held-out accuracy after PPO");
          set(in.bestofn, f->bestofn, "best-of-n curves");
          set(in.timings, f->timings, "stage times");
          auto set_named = [&](std::vector<std::pair<std::string, std::string>>& field, const std::vector<std::string>& specs,
                               const char* flag, const char* label) {
            if (specs.empty()) return;
            field.clear();
            drop_note(label);
            for (const auto& s : specs) {
              auto nf = named_file(s, flag);
              RLEIF_CHECK(path_exists(nf.second), "report: ", flag, " ", s, ": ", nf.second, " no such file");
              field.push_back(std::move(nf));
            }
          };
          set_named(in.rm_metrics, f->rm, "--rm-metrics", "reward-model loss");
          set_named(in.ppo_metrics, f->ppo, "--ppo-metrics", "PPO curves");
          if (!f->title.empty()) in.title = f->title;
          const std::string html = ppo::recipe_report_html(in);
          make_dirs(parent_dir(f->out));
          write_file_atomic(f->out, html);
          log_info("report: wrote ", f->out, " (", html.size() / 1024, " KiB)");
          std::cout << f->out << "\n";
          return 0;
        };
      }};
}

RLEIF_COMMAND(report, make_command());

}  // namespace
}  // namespace rleif::cli
