// Golden: serve::ChatTemplate renders real chat templates (ChatML, Llama 2/3, Zephyr, Mistral, a
// WizardMath prompt, and one exercising the rest of the supported Jinja subset) exactly as Jinja2
// does with transformers' settings (scripts/fixtures/rollout_chat_templates.py).
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "serve/chat_template.h"
#include "tests/test_util.h"

namespace rleif::serve {
namespace {

TEST(ChatTemplateGolden, RendersLikeJinja2) {
  const std::string path = test::fixtures_dir() + "/rollout_chat_templates/cases.json";
  RLEIF_REQUIRE_PATH(path);
  const json cases = json::parse(read_file(path));
  ASSERT_GE(cases.size(), 40u);
  size_t raised = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ChatTemplate t(c["template"].get<std::string>(), c["name"].get<std::string>());
    if (c["error"].is_string()) {
      try {
        t.render(c["vars"]);
        ADD_FAILURE() << "expected raise_exception: " << c["error"];
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos) << e.what();
        ++raised;
      }
      continue;
    }
    EXPECT_EQ(t.render(c["vars"]), c["expected"].get<std::string>());
  }
  EXPECT_GT(raised, 0u);  // the Llama 2 / Mistral role checks fire on the system-first conversation
}

TEST(ChatTemplate, UnsupportedOrBrokenTemplatesFailAtLoadWithTheirLocation) {
  auto msg = [](const std::string& src) {
    try {
      ChatTemplate t(src, "tokenizer_config.json chat_template");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg("{% macro m() %}x{% endmacro %}").find("'{% macro %}' is not supported"), std::string::npos);
  EXPECT_NE(msg("{% if x %}open").find("endif"), std::string::npos);
  EXPECT_NE(msg("{{ 'a' + }}").find("tokenizer_config.json chat_template"), std::string::npos);
  EXPECT_NE(msg("{{ x ").find("unclosed"), std::string::npos);
  EXPECT_EQ(msg("{{ messages[0]['content'] | trim }}"), "");
}

TEST(ChatTemplate, FindsTheTemplateOfAModelDirectory) {
  const std::string dir = test::temp_dir("chat_tmpl");
  EXPECT_EQ(ChatTemplate::find_in(dir), "");
  write_file_atomic(dir + "/tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"},
                                                        {"name": "default", "template": "D"}]})");
  EXPECT_EQ(ChatTemplate::find_in(dir), "D");
  write_file_atomic(dir + "/tokenizer_config.json", "{not json");
  EXPECT_THROW(ChatTemplate::find_in(dir), Error);
}

}  // namespace
}  // namespace rleif::serve
