#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace rleif::train {
namespace fsys = std::filesystem;

namespace {
constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kTmpPrefix = ".tmp-checkpoint-";

// The step of "checkpoint-<digits>", or -1 for any other name.
int64_t step_of(const std::string& name) {
  if (!starts_with(name, kPrefix)) return -1;
  std::string digits = name.substr(std::string(kPrefix).size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}
}  // namespace

json TrainState::to_json() const {
  return json{{"step", step}, {"epoch", epoch}, {"index", index}, {"tokens", tokens},
              {"elapsed_s", elapsed_s}, {"total_steps", total_steps}};
}

TrainState TrainState::from_json(const json& j, const std::string& where) {
  SourceLoc loc{where, 0};
  TrainState s;
  s.step = get_field<int64_t>(j, "step", loc, "an integer");
  s.epoch = get_field<int64_t>(j, "epoch", loc, "an integer");
  s.index = get_field<int64_t>(j, "index", loc, "an integer");
  s.tokens = get_field<int64_t>(j, "tokens", loc, "an integer");
  s.elapsed_s = get_field<double>(j, "elapsed_s", loc, "a number");
  s.total_steps = get_field<int64_t>(j, "total_steps", loc, "an integer");
  return s;
}

Checkpointer::Checkpointer(std::string output_dir, int keep_last)
    : output_dir_(std::move(output_dir)), keep_last_(keep_last) {
  RLEIF_CHECK(keep_last_ >= 1, "train.keep_last = ", keep_last_, ": keep at least one checkpoint");
}

std::string Checkpointer::dir() const { return (fsys::path(output_dir_) / "checkpoints").string(); }

std::vector<std::string> Checkpointer::list() const {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fsys::is_directory(dir(), ec)) return {};
  for (auto& e : fsys::directory_iterator(dir(), ec)) {
    const int64_t step = step_of(e.path().filename().string());
    // A renamed-in checkpoint is complete by construction; trainer_state.json guards against
    // directories someone else put there.
    if (step >= 0 && fsys::exists(e.path() / "trainer_state.json")) found.emplace_back(step, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::string Checkpointer::latest() const {
  auto all = list();
  return all.empty() ? std::string() : all.back();
}

void Checkpointer::remove_temporaries() const {
  std::error_code ec;
  if (!fsys::is_directory(dir(), ec)) return;
  for (auto& e : fsys::directory_iterator(dir(), ec))
    if (starts_with(e.path().filename().string(), kTmpPrefix)) remove_tree(e.path().string());
}

std::string Checkpointer::save(int64_t step, const std::function<void(const std::string&)>& write_model,
                               const std::function<void(const std::string&)>& fill) const {
  make_dirs(dir());
  char name[64];
  std::snprintf(name, sizeof name, "%s%lld", kPrefix, static_cast<long long>(step));
  const std::string final_path = (fsys::path(dir()) / name).string();
  const std::string tmp = (fsys::path(dir()) / str(kTmpPrefix, step, ".", ::getpid())).string();
  remove_tree(tmp);
  try {
    write_model(tmp);
    RLEIF_CHECK(fsys::is_directory(tmp), tmp, ": the model writer did not create the checkpoint directory");
    fill(tmp);
    fsync_path(tmp);
    replace_dir_atomic(tmp, final_path);
  } catch (const Error& e) {
    // Disk full or read-only: free what the partial checkpoint took; the older ones are untouched
    // (pruning happens only after a checkpoint is complete).
    remove_temporaries();
    const std::string previous = latest();
    RLEIF_FAIL("saving checkpoint ", name, " in ", dir(), " failed: ", e.what(), "\n",
               previous.empty() ? std::string("there is no earlier checkpoint")
                                : "the previous checkpoint " + previous + " is intact; a rerun resumes from it");
  }
  auto all = list();
  for (size_t i = 0; i + static_cast<size_t>(keep_last_) < all.size(); ++i) remove_tree(all[i]);
  return final_path;
}

}  // namespace rleif::train
