#include "serve/openai_api.h"

#include <cmath>
#include <limits>
#include <optional>

#include "rollout/prompt.h"

namespace rleif::serve {

ApiError::ApiError(int status_, const std::string& message, std::string param_, std::string type_, std::string code_)
    : std::runtime_error(message), status(status_), param(std::move(param_)), type(std::move(type_)), code(std::move(code_)) {}

json error_body(const std::string& message, const std::string& type, const std::string& param, const std::string& code) {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return json{{"error", e}};
}

const char* finish_name(rollout::FinishReason f) {
  return f == rollout::FinishReason::length ? "length" : "stop";
}

namespace {

ApiError bad(const std::string& param, const std::string& msg) { return ApiError(400, msg, param); }

// Present and not null.
bool has(const json& b, const char* key) { return b.contains(key) && !b.at(key).is_null(); }

int64_t get_int(const json& b, const char* key, int64_t lo, int64_t hi) {
  const json& v = b.at(key);
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
    throw bad(key, str("'", key, "' must be an integer, got ", v.dump()));
  // The range is checked on the value as sent, before any conversion: a float or an unsigned past
  // int64's range would otherwise wrap into it (1e30 or 2^64 - 1 becoming a small or negative number).
  auto out_of_range = [&] {
    return bad(key, str("'", key, "' is ", v.dump(), "; it must lie in [", lo, ", ", hi, "]"));
  };
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo) throw out_of_range();
    return static_cast<int64_t>(u);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // [-2^63, 2^63) converts exactly to int64; anything else is out of every range here.
    if (!(d >= -0x1p63 && d < 0x1p63)) throw out_of_range();
    const int64_t x = static_cast<int64_t>(d);
    if (x < lo || x > hi) throw out_of_range();
    return x;
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) throw out_of_range();
  return x;
}

double get_num(const json& b, const char* key, double lo, double hi, bool open_lo = false) {
  const json& v = b.at(key);
  if (!v.is_number()) throw bad(key, str("'", key, "' must be a number, got ", v.dump()));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x > hi || x < lo || (open_lo && x == lo))
    throw bad(key, str("'", key, "' is ", x, "; it must lie in ", open_lo ? "(" : "[", lo, ", ", hi, "]"));
  return x;
}

bool get_bool(const json& b, const char* key) {
  const json& v = b.at(key);
  if (!v.is_boolean()) throw bad(key, str("'", key, "' must be true or false, got ", v.dump()));
  return v.get<bool>();
}

std::string message_content(const json& m, size_t i) {
  const std::string where = str("messages[", i, "].content");
  if (!m.contains("content") || m.at("content").is_null()) return {};
  const json& c = m.at("content");
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw bad(where, where + " must be a string or an array of text parts");
  std::string text;
  for (const auto& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part.at("text").is_string())
      throw bad(where, where + ": only {\"type\": \"text\", \"text\": ...} parts are supported");
    text += part.at("text").get<std::string>();
  }
  return text;
}

void parse_prompt(const json& p, ApiRequest& r, const ApiLimits& limits) {
  auto ids = [](const json& a) {
    std::vector<int32_t> out;
    for (const auto& x : a) {
      if (!x.is_number_integer()) throw bad("prompt", "'prompt' token arrays must hold integers");
      const int64_t v = x.get<int64_t>();
      if (v < 0 || v > std::numeric_limits<int32_t>::max()) throw bad("prompt", str("'prompt' token id ", v, " is invalid"));
      out.push_back(static_cast<int32_t>(v));
    }
    return out;
  };
  if (p.is_string()) {
    r.prompts.push_back(p.get<std::string>());
  } else if (p.is_array() && !p.empty() && p[0].is_string()) {
    for (const auto& s : p) {
      if (!s.is_string()) throw bad("prompt", "'prompt' mixes strings with other values");
      r.prompts.push_back(s.get<std::string>());
    }
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    r.prompt_ids.push_back(ids(p));
  } else if (p.is_array() && !p.empty() && p[0].is_array()) {
    for (const auto& a : p) {
      if (!a.is_array()) throw bad("prompt", "'prompt' mixes token arrays with other values");
      r.prompt_ids.push_back(ids(a));
    }
  } else {
    throw bad("prompt", "'prompt' must be a string, a list of strings, or token ids");
  }
  const size_t count = r.prompts.size() + r.prompt_ids.size();
  if (count > static_cast<size_t>(limits.max_prompts))
    throw bad("prompt", str("'prompt' holds ", count, " prompts; at most ", limits.max_prompts, " per request"));
}

}  // namespace

ApiRequest parse_request(const json& b, Endpoint endpoint, const ApiLimits& limits) {
  if (!b.is_object()) throw bad("", "the request body must be a JSON object");
  ApiRequest r;
  r.endpoint = endpoint;
  if (!has(b, "model") || !b.at("model").is_string()) throw bad("model", "'model' is required and must be a string");
  if (b.at("model").get<std::string>() != limits.model_name)
    throw ApiError(404, str("The model '", b.at("model").get<std::string>(), "' does not exist; this server serves '",
                            limits.model_name, "'"),
                   "model", "invalid_request_error", "model_not_found");
  auto& p = r.params;
  p.max_new_tokens = limits.default_max_tokens;
  if (has(b, "n")) p.n = get_int(b, "n", 1, limits.max_n);
  const char* max_key = endpoint == Endpoint::chat && has(b, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (has(b, max_key)) {
    p.max_new_tokens = get_int(b, max_key, 1, std::numeric_limits<int32_t>::max());
    r.max_tokens_given = true;
  }
  if (has(b, "temperature")) p.temperature = get_num(b, "temperature", 0.0, 2.0);
  if (has(b, "top_p")) p.top_p = get_num(b, "top_p", 0.0, 1.0, /*open_lo=*/true);
  if (has(b, "top_k")) {
    const int64_t k = get_int(b, "top_k", -1, std::numeric_limits<int32_t>::max());
    p.top_k = k < 0 ? 0 : k;  // vLLM spells "off" as -1
  }
  if (has(b, "min_p")) p.min_p = get_num(b, "min_p", 0.0, 1.0);
  if (has(b, "seed")) p.seed = get_int(b, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()) &
                               std::numeric_limits<int64_t>::max();
  if (has(b, "ignore_eos")) p.ignore_eos = get_bool(b, "ignore_eos");
  if (has(b, "stop")) {
    const json& s = b.at("stop");
    if (s.is_string()) {
      if (!s.get<std::string>().empty()) p.stop.push_back(s.get<std::string>());
    } else if (s.is_array()) {
      if (s.size() > 16) throw bad("stop", "'stop' holds more than 16 strings");
      for (const auto& x : s) {
        if (!x.is_string() || x.get<std::string>().empty()) throw bad("stop", "'stop' entries must be non-empty strings");
        p.stop.push_back(x.get<std::string>());
      }
    } else {
      throw bad("stop", "'stop' must be a string or a list of strings");
    }
  }
  if (has(b, "stream")) r.stream = get_bool(b, "stream");
  if (has(b, "stream_options")) {
    const json& so = b.at("stream_options");
    if (!so.is_object()) throw bad("stream_options", "'stream_options' must be an object");
    if (!r.stream) throw bad("stream_options", "'stream_options' is only allowed with \"stream\": true");
    if (has(so, "include_usage")) r.include_usage = get_bool(so, "include_usage");
  }
  for (const char* k : {"presence_penalty", "frequency_penalty"})
    if (has(b, k) && get_num(b, k, -2.0, 2.0) != 0.0) throw bad(k, str("'", k, "' is not supported; leave it at 0"));
  if (has(b, "logit_bias") && !(b.at("logit_bias").is_object() && b.at("logit_bias").empty()))
    throw bad("logit_bias", "'logit_bias' is not supported");
  if (endpoint == Endpoint::completions) {
    if (!has(b, "prompt")) throw bad("prompt", "'prompt' is required");
    parse_prompt(b.at("prompt"), r, limits);
    if (has(b, "logprobs")) {
      p.top_logprobs = get_int(b, "logprobs", 0, 5);
      r.logprobs = true;
    }
    if (has(b, "echo") && get_bool(b, "echo")) throw bad("echo", "'echo' is not supported");
    if (has(b, "best_of") && get_int(b, "best_of", 1, limits.max_n) != p.n)
      throw bad("best_of", "'best_of' other than n is not supported");
    if (has(b, "suffix") && !(b.at("suffix").is_string() && b.at("suffix").get<std::string>().empty()))
      throw bad("suffix", "'suffix' is not supported");
  } else {
    if (!has(b, "messages") || !b.at("messages").is_array() || b.at("messages").empty())
      throw bad("messages", "'messages' is required: a non-empty list of {\"role\", \"content\"}");
    const json& ms = b.at("messages");
    for (size_t i = 0; i < ms.size(); ++i) {
      const json& m = ms[i];
      if (!m.is_object() || !m.contains("role") || !m.at("role").is_string())
        throw bad(str("messages[", i, "]"), str("messages[", i, "] must be an object with a string 'role'"));
      const std::string role = m.at("role").get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool")
        throw bad(str("messages[", i, "].role"), str("messages[", i, "].role '", role,
                                                     "' is not one of system, developer, user, assistant, tool"));
      r.messages.push_back({role, message_content(m, i)});
    }
    if (has(b, "logprobs")) r.logprobs = get_bool(b, "logprobs");
    if (has(b, "top_logprobs")) {
      p.top_logprobs = get_int(b, "top_logprobs", 0, 20);
      if (!r.logprobs && p.top_logprobs > 0) throw bad("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
    }
    if (has(b, "tools") && !(b.at("tools").is_array() && b.at("tools").empty())) throw bad("tools", "'tools' is not supported");
  }
  try {
    p.validate();
  } catch (const Error& e) {
    throw bad("", e.what());
  }
  return r;
}

std::vector<int32_t> encode_completion_prompt(const Tokenizer& tok, const std::string& text, int64_t config_bos) {
  std::vector<int32_t> ids = tok.encode(text, /*add_special_tokens=*/true);
  if (!ids.empty()) return ids;
  std::optional<int32_t> bos = rollout::empty_prompt_start(tok, config_bos);
  if (!bos)
    throw bad("prompt", "'prompt' is empty, and an empty prompt starts from the BOS token, but this model has none "
                        "(no bos_token_id in config.json, no BOS in tokenizer.json); send a non-empty prompt");
  return {*bos};
}

namespace {

std::string token_text(const Tokenizer& tok, int32_t id) { return tok.decode({id}, /*skip_special_tokens=*/false); }

json bytes_of(const std::string& s) {
  json a = json::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

// Log-probs of tokens [from, to) of a sample, in the endpoint's format.
json logprobs_json(const ApiRequest& r, const Tokenizer& tok, const std::vector<int32_t>& tokens,
                   const std::vector<float>& lps, const std::vector<std::vector<rollout::TokenLogprob>>& top, size_t from,
                   size_t to, int64_t offset) {
  if (r.endpoint == Endpoint::completions) {
    json t = json::array(), l = json::array(), tl = json::array(), off = json::array();
    for (size_t i = from; i < to; ++i) {
      const std::string s = token_text(tok, tokens[i]);
      t.push_back(s);
      l.push_back(lps[i]);
      off.push_back(offset);
      offset += static_cast<int64_t>(s.size());
      if (r.params.top_logprobs > 0) {
        json alts = json::object();
        for (const auto& a : top[i]) alts[token_text(tok, a.id)] = a.logprob;
        tl.push_back(alts);
      }
    }
    return {{"tokens", t}, {"token_logprobs", l}, {"top_logprobs", r.params.top_logprobs > 0 ? tl : json(nullptr)},
            {"text_offset", off}};
  }
  json content = json::array();
  for (size_t i = from; i < to; ++i) {
    const std::string s = token_text(tok, tokens[i]);
    json alts = json::array();
    if (r.params.top_logprobs > 0)
      for (const auto& a : top[i]) {
        const std::string as = token_text(tok, a.id);
        alts.push_back({{"token", as}, {"logprob", a.logprob}, {"bytes", bytes_of(as)}});
      }
    content.push_back({{"token", s}, {"logprob", lps[i]}, {"bytes", bytes_of(s)}, {"top_logprobs", alts}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

}  // namespace

json usage_json(const std::vector<rollout::Completion>& out) {
  int64_t prompt = 0, completion = 0;
  for (const auto& c : out) {
    prompt += c.prompt_tokens;
    for (const auto& s : c.samples) completion += static_cast<int64_t>(s.tokens.size());
  }
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json completion_response(const ApiRequest& r, const std::vector<rollout::Completion>& out, const ResponseMeta& m,
                         const Tokenizer& tok) {
  json choices = json::array();
  for (size_t p = 0; p < out.size(); ++p) {
    for (size_t j = 0; j < out[p].samples.size(); ++j) {
      const auto& s = out[p].samples[j];
      const int64_t index = static_cast<int64_t>(p * out[p].samples.size() + j);
      json lp = r.logprobs ? logprobs_json(r, tok, s.tokens, s.logprobs, s.top, 0, s.tokens.size(), 0) : json(nullptr);
      if (r.endpoint == Endpoint::completions)
        choices.push_back({{"index", index}, {"text", s.text}, {"logprobs", lp}, {"finish_reason", finish_name(s.finish)}});
      else
        choices.push_back({{"index", index},
                           {"message", {{"role", "assistant"}, {"content", s.text}}},
                           {"logprobs", lp},
                           {"finish_reason", finish_name(s.finish)}});
    }
  }
  return {{"id", m.id},
          {"object", r.endpoint == Endpoint::completions ? "text_completion" : "chat.completion"},
          {"created", m.created},
          {"model", m.model},
          {"choices", choices},
          {"usage", usage_json(out)}};
}

json stream_chunk(const ApiRequest& r, const rollout::TokenEvent& ev, int64_t index, const ResponseMeta& m,
                  const Tokenizer& tok) {
  json lp = nullptr;
  if (r.logprobs) {
    std::vector<std::vector<rollout::TokenLogprob>> top;
    if (ev.top) top.push_back(*ev.top);
    lp = logprobs_json(r, tok, {ev.token}, {ev.logprob}, top, 0, 1, 0);
  }
  json finish = ev.finished ? json(finish_name(ev.finish)) : json(nullptr);
  json choice;
  if (r.endpoint == Endpoint::completions) {
    choice = {{"index", index}, {"text", ev.text}, {"logprobs", lp}, {"finish_reason", finish}};
  } else {
    json delta = json::object();
    if (!ev.text.empty() || !ev.finished) delta["content"] = ev.text;
    choice = {{"index", index}, {"delta", delta}, {"logprobs", lp}, {"finish_reason", finish}};
  }
  return {{"id", m.id},
          {"object", r.endpoint == Endpoint::completions ? "text_completion" : "chat.completion.chunk"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array({choice})}};
}

json chat_role_chunk(int64_t index, const ResponseMeta& m) {
  json choice = {{"index", index}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                 {"finish_reason", nullptr}};
  return {{"id", m.id}, {"object", "chat.completion.chunk"}, {"created", m.created}, {"model", m.model},
          {"choices", json::array({choice})}};
}

json usage_chunk(const ApiRequest& r, const json& usage, const ResponseMeta& m) {
  return {{"id", m.id},
          {"object", r.endpoint == Endpoint::completions ? "text_completion" : "chat.completion.chunk"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array()},
          {"usage", usage}};
}

}  // namespace rleif::serve
