// The output directory of an evol run and its progress journal.
//
// Durability protocol: each stage appends its records, in a fixed order, to its own JSONL file and
// then appends a journal line {"stage", "done", "lines", counters, "usage"} to journal.jsonl (record
// file flushed and fsynced first). The journal is the truth: on open, each stage's file is cut back
// to the line count of its last journal entry, dropping records written after it (a kill between
// the two appends); those units run again, answered from the response cache. So a run killed at
// any moment and started again ends with exactly the files an uninterrupted run writes.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/jsonl.h"

namespace rleif::evol {

// Counters of one stage, cumulative over every run of the directory.
struct StageProgress {
  int64_t done = 0;   // units finished (a unit is an item to evolve, a list to rank, a solution to label)
  int64_t lines = 0;  // records written to the stage's file
  int64_t kept = 0;
  int64_t eliminated = 0;
  std::map<std::string, int64_t> reasons;  // eliminated, by reason
  json to_json() const;
  static StageProgress from_json(const json& j);
};

// Teacher usage, cumulative over every run of the directory.
struct UsageTotals {
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t cache_hits = 0;
  int64_t prompt_tokens = 0;  // billed (cache hits excluded)
  int64_t completion_tokens = 0;
  double cost = 0;
  json to_json() const;
  static UsageTotals from_json(const json& j);
};

class RunDir {
 public:
  // Creates the directory when missing and takes an exclusive lock on it (released at exit, also
  // by kill -9); a second run on the same directory is an error.
  explicit RunDir(std::string dir);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // The resolved config of the first run (run.yaml), if any; save it with save_config.
  std::optional<std::string> saved_config() const;
  void save_config(const std::string& yaml);

  StageProgress progress(const std::string& stage) const;
  UsageTotals usage() const { return usage_; }
  // Opens a stage's output file, cut back to the journal's line count for the stage.
  std::unique_ptr<JsonlAppender> open_output(const std::string& stage, const std::string& file);
  // Makes a stage's records durable, then journals its progress and the usage so far.
  void checkpoint(const std::string& stage, JsonlAppender& out, const StageProgress& p, const UsageTotals& u);

 private:
  std::string dir_;
  int lock_fd_ = -1;
  std::unique_ptr<JsonlAppender> journal_;
  std::map<std::string, StageProgress> stages_;
  UsageTotals usage_;
};

}  // namespace rleif::evol
