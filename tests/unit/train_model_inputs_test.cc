// train/model_inputs.h: what rleif sft and rleif rm train start from (the tokenizer as a file or a
// directory, the config, the EOS id), a scratch config's special tokens, and the errors for a missing
// tokenizer, no EOS anywhere and a tokenizer larger than the model's vocabulary.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/fs.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"
#include "train/model_inputs.h"

namespace rleif::train {
namespace {
using test::error_of;

class ModelInputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("model_inputs");
    tok_ = test::write_math_tokenizer(dir_);  // <pad> 0, <s> 1, </s> 2
    config_ = test::write_tiny_config(dir_);  // no special tokens named
  }
  std::string dir_, tok_, config_;
};

TEST_F(ModelInputsTest, ScratchTakesTheTokenizersSpecialTokens) {
  for (const std::string& tok : {tok_, dir_}) {  // the file, or its directory
    ModelInputs in = resolve_model_inputs("", config_, tok);
    EXPECT_EQ(in.tokenizer_path, tok_);
    EXPECT_EQ(in.tokenizer_dir, dir_);
    EXPECT_EQ(in.eos_id, 2);
    EXPECT_EQ(in.config.vocab_size, 1024);
    EXPECT_EQ(in.config.bos_token_id, -1);
    model::ModelConfig mc = scratch_config(in.config, *in.tok, in.eos_id, 0);
    EXPECT_EQ(mc.bos_token_id, 1);
    EXPECT_EQ(mc.eos_token_ids, (std::vector<int64_t>{2}));
    EXPECT_EQ(mc.pad_token_id, 0);
    EXPECT_EQ(scratch_config(in.config, *in.tok, in.eos_id, std::nullopt).pad_token_id, -1) << "no pad given";
  }
  // What config.json names stays.
  json c = json::parse(read_file(config_));
  c["bos_token_id"] = 5;
  c["eos_token_id"] = 6;
  c["pad_token_id"] = 7;
  write_file_atomic(dir_ + "/named.json", c.dump());
  ModelInputs in = resolve_model_inputs("", dir_ + "/named.json", tok_);
  EXPECT_EQ(in.eos_id, 2) << "the tokenizer's EOS comes first";
  model::ModelConfig mc = scratch_config(in.config, *in.tok, in.eos_id, 0);
  EXPECT_EQ(mc.bos_token_id, 5);
  EXPECT_EQ(mc.eos_token_ids, (std::vector<int64_t>{6}));
  EXPECT_EQ(mc.pad_token_id, 7);
}

TEST_F(ModelInputsTest, BadInputsNameTheFileAndWhatToSet) {
  EXPECT_NE(error_of([&] { resolve_model_inputs("", config_, dir_ + "/nothing"); })
                .find(dir_ + "/nothing: no tokenizer.json; set model.tokenizer"),
            std::string::npos);
  // A tokenizer without EOS: the config's eos_token_id, else an error.
  std::string text = read_file(tok_);
  for (size_t p; (p = text.find("</s>")) != std::string::npos;) text.replace(p, 4, "<zz>");
  make_dirs(dir_ + "/noeos");
  write_file_atomic(dir_ + "/noeos/tokenizer.json", text);
  EXPECT_NE(error_of([&] { resolve_model_inputs("", config_, dir_ + "/noeos"); })
                .find(dir_ + "/noeos/tokenizer.json: the tokenizer has no EOS token and the model config names none; "
                      "set eos_token_id in config.json"),
            std::string::npos);
  json c = json::parse(read_file(config_));
  c["eos_token_id"] = 2;
  write_file_atomic(dir_ + "/eos.json", c.dump());
  EXPECT_EQ(resolve_model_inputs("", dir_ + "/eos.json", dir_ + "/noeos").eos_id, 2);
  // A tokenizer larger than the model's vocabulary.
  c["vocab_size"] = 3;
  write_file_atomic(dir_ + "/small.json", c.dump());
  EXPECT_NE(error_of([&] { resolve_model_inputs("", dir_ + "/small.json", tok_); })
                .find(" tokens but the model's vocab_size is 3; use the model's own tokenizer"),
            std::string::npos);
}

}  // namespace
}  // namespace rleif::train
