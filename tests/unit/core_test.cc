// core helpers: JSONL reading/appending (with a kill-truncated last line), atomic writes, strings.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/strings.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

TEST(Jsonl, ReadsObjectsAndNamesBadLines) {
  std::string dir = temp_dir("jsonl");
  write_file_atomic(dir + "/a.jsonl", "{\"a\": 1}\n\n{\"a\": 2}\r\n");
  auto recs = read_jsonl(dir + "/a.jsonl");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1]["a"], 2);
  write_file_atomic(dir + "/b.jsonl", "{\"a\": 1}\n{\"a\": \n");
  try {
    read_jsonl(dir + "/b.jsonl");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/b.jsonl:2"), std::string::npos) << e.what();
  }
  write_file_atomic(dir + "/c.jsonl", "[1, 2]\n");
  EXPECT_THROW(read_jsonl(dir + "/c.jsonl"), Error);
  JsonlReader skip(dir + "/b.jsonl", /*skip_bad=*/true);
  json v;
  SourceLoc loc;
  size_t n = 0;
  while (skip.next(v, loc)) ++n;
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(skip.bad_lines(), 1u);
  EXPECT_THROW(JsonlReader(dir + "/missing.jsonl"), Error);
}

TEST(Jsonl, AppenderDropsAPartialLastLine) {
  std::string dir = temp_dir("jsonl");
  write_file_atomic(dir + "/out.jsonl", "{\"id\": 1}\n{\"id\": 2, \"te");  // a write cut by kill -9
  {
    JsonlAppender app(dir + "/out.jsonl");
    app.append(json{{"id", 3}});
  }
  auto recs = read_jsonl(dir + "/out.jsonl");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["id"], 1);
  EXPECT_EQ(recs[1]["id"], 3);
}

TEST(Jsonl, GetFieldNamesLocationAndType) {
  SourceLoc loc{"f.jsonl", 7};
  json obj = {{"n", "x"}};
  try {
    get_field<int>(obj, "n", loc, "an integer");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.jsonl:7: field 'n' must be an integer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(get_field<int>(obj, "missing", loc, "an integer"), Error);
}

TEST(Fs, AtomicWriteReplacesWholeFiles) {
  std::string dir = temp_dir("fs");
  write_file_atomic(dir + "/sub/x.txt", "one");
  write_file_atomic(dir + "/sub/x.txt", "two");
  EXPECT_EQ(read_file(dir + "/sub/x.txt"), "two");
  EXPECT_THROW(read_file(dir + "/nope.txt"), Error);
  make_dirs(dir + "/d/e");
  write_file_atomic(dir + "/d/e/f.txt", "f");
  remove_tree(dir + "/d");
  EXPECT_FALSE(path_exists(dir + "/d"));
  remove_tree(dir + "/never-existed");
}

TEST(Fs, ReplaceDirAtomic) {
  std::string dir = temp_dir("fs");
  write_file_atomic(dir + "/dst/old.txt", "old");
  write_file_atomic(dir + "/tmp/new.txt", "new");
  replace_dir_atomic(dir + "/tmp", dir + "/dst");
  EXPECT_FALSE(path_exists(dir + "/dst/old.txt"));
  EXPECT_EQ(read_file(dir + "/dst/new.txt"), "new");
  EXPECT_FALSE(path_exists(dir + "/tmp"));
}

TEST(Strings, NearestAndHelpers) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(nearest("ppo.clip", {"ppo.clip_eps", "seed", "model.path"}), "ppo.clip_eps");
  EXPECT_EQ(nearest("zzzzzzzzzzzz", {"a"}), "");
  EXPECT_EQ(split("a.b..c", '.'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(human_seconds(125), "2m05s");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
}

}  // namespace
}  // namespace rleif::test
