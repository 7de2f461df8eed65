// safetensors reader/writer: round trips, interchange with the Python `safetensors` library in both
// directions, and one test per kind of corrupt file (each must be an rleif::Error naming the file,
// the tensor and the problem, never a crash or an out-of-bounds read).
#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
namespace fsys = std::filesystem;
using test::python_bin;
using test::run_command;
using test::temp_dir;

const DType kAll[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                      DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};

// A raw safetensors file: header length (the real one unless `len` is given), header, data.
void write_raw(const std::string& path, const std::string& header, const std::string& data, int64_t len = -1) {
  uint64_t n = len < 0 ? header.size() : static_cast<uint64_t>(len);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::ofstream(path, std::ios::binary) << out << header << data;
}

// Expects SafetensorsFile(path) to throw an rleif::Error whose message contains every part.
void expect_load_error(const std::string& path, const std::vector<std::string>& parts) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << path << ": loaded without error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
  }
}

std::string bytes_of(const std::string& path) { return read_file(path); }

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  std::string path = temp_dir("st") + "/all.safetensors";
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<TensorData> ts;
  for (DType d : kAll) {
    std::vector<int64_t> shape = {2, 3};
    std::vector<uint8_t> b(6 * dtype_size(d));
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 37 + static_cast<int>(d));
    if (d == DType::BOOL)
      for (size_t i = 0; i < b.size(); ++i) b[i] = i % 2;
    bufs.push_back(std::move(b));
    ts.push_back({std::string("t_") + dtype_name(d), d, shape, bufs.back().data(), bufs.back().size()});
  }
  float scalar = 2.5f;
  ts.push_back({"scalar", DType::F32, {}, &scalar, 4});
  ts.push_back({"empty", DType::F32, {0, 4}, nullptr, 0});
  write_safetensors(path, ts, {{"format", "pt"}, {"step", "12"}});

  SafetensorsFile f(path);
  EXPECT_EQ(f.names().size(), ts.size());
  for (size_t i = 0; i < std::size(kAll); ++i) {
    const TensorView& v = f.get(ts[i].name);
    EXPECT_EQ(v.dtype, kAll[i]);
    EXPECT_EQ(v.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(v.numel(), 6);
    ASSERT_EQ(v.nbytes, bufs[i].size());
    EXPECT_EQ(std::memcmp(v.data, bufs[i].data(), v.nbytes), 0) << ts[i].name;
  }
  EXPECT_TRUE(f.get("scalar").shape.empty());
  EXPECT_EQ(f.get("scalar").numel(), 1);
  float back;
  std::memcpy(&back, f.get("scalar").data, 4);
  EXPECT_EQ(back, 2.5f);
  EXPECT_EQ(f.get("empty").nbytes, 0u);
  EXPECT_EQ(f.metadata().at("step"), "12");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_FALSE(f.contains("nope"));
  EXPECT_THROW(f.get("nope"), Error);
}

TEST(Safetensors, HeaderIsSpacePaddedAndTensorsAreInNameOrder) {
  std::string path = temp_dir("st") + "/order.safetensors";
  float a[3] = {1, 2, 3}, b[1] = {4}, c[2] = {5, 6};
  write_safetensors(path, {{"c", DType::F32, {2}, c, 8}, {"a", DType::F32, {3}, a, 12}, {"b", DType::F32, {1}, b, 4}});
  std::string raw = bytes_of(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(raw[i]);
  EXPECT_EQ(n % 8, 0u) << "the data buffer must start 8-byte aligned";
  std::string header = raw.substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' ') + 1, json::parse(header).dump().size()) << "padding must be spaces";
  // a (12 bytes), b (4), c (8) in that order.
  EXPECT_EQ(raw.substr(8 + n), std::string(reinterpret_cast<char*>(a), 12) + std::string(reinterpret_cast<char*>(b), 4) +
                                   std::string(reinterpret_cast<char*>(c), 8));
}

TEST(Safetensors, ReadsFileWrittenByPythonLibrary) {
  std::string dir = temp_dir("st");
  std::string path = dir + "/py.safetensors";
  std::string script = R"(
import sys, torch
from safetensors.torch import save_file
save_file({
  "f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5,
  "f64": torch.tensor([1.25, -3.5], dtype=torch.float64),
  "f16": torch.tensor([1.5, -2.0], dtype=torch.float16),
  "bf16": torch.tensor([1.5, -2.0, 0.25], dtype=torch.bfloat16),
  "i64": torch.tensor([[-3], [7]], dtype=torch.int64),
  "i32": torch.tensor([2**31 - 1], dtype=torch.int32),
  "i8": torch.tensor([-128, 127], dtype=torch.int8),
  "u8": torch.tensor([255], dtype=torch.uint8),
  "flag": torch.tensor([True, False, True]),
}, sys.argv[1], metadata={"origin": "python"})
)";
  auto r = run_command({python_bin(), "-c", script, path});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("origin"), "python");
  const TensorView& t = f.get("f32");
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  std::vector<float> v(6);
  std::memcpy(v.data(), t.data, 24);
  EXPECT_EQ(v, (std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5}));
  double d[2];
  std::memcpy(d, f.get("f64").data, 16);
  EXPECT_EQ(d[0], 1.25);
  EXPECT_EQ(d[1], -3.5);
  uint16_t h[2], bf[3];
  std::memcpy(h, f.get("f16").data, 4);
  EXPECT_EQ(h[0], 0x3E00);  // 1.5 in IEEE half
  EXPECT_EQ(h[1], 0xC000);  // -2.0
  ASSERT_EQ(f.get("bf16").dtype, DType::BF16);
  std::memcpy(bf, f.get("bf16").data, 6);
  EXPECT_EQ(bf[0], 0x3FC0);  // 1.5 in bfloat16: the top half of the fp32 bits
  EXPECT_EQ(bf[1], 0xC000);
  EXPECT_EQ(bf[2], 0x3E80);
  int64_t i64[2];
  std::memcpy(i64, f.get("i64").data, 16);
  EXPECT_EQ(f.get("i64").shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(i64[0], -3);
  EXPECT_EQ(i64[1], 7);
  int32_t i32;
  std::memcpy(&i32, f.get("i32").data, 4);
  EXPECT_EQ(i32, 2147483647);
  EXPECT_EQ(reinterpret_cast<const int8_t*>(f.get("i8").data)[0], -128);
  EXPECT_EQ(f.get("u8").data[0], 255);
  EXPECT_EQ(f.get("flag").dtype, DType::BOOL);
  EXPECT_EQ(std::vector<uint8_t>(f.get("flag").data, f.get("flag").data + 3), (std::vector<uint8_t>{1, 0, 1}));
}

TEST(Safetensors, PythonLibraryReadsFileWrittenByRleif) {
  std::string dir = temp_dir("st");
  std::string path = dir + "/ours.safetensors";
  std::vector<float> w = {0.5f, -1.25f, 3.0f, 1e-3f, 7.0f, -0.0f};
  std::vector<int64_t> ids = {-5, 0, 1LL << 40};
  std::vector<uint16_t> half = {0x3C00, 0xC400};  // 1.0, -4.0 in IEEE half
  std::vector<uint8_t> mask = {1, 0};
  double one = 1.0 / 3.0;
  write_safetensors(path,
                    {{"w", DType::F32, {3, 2}, w.data(), 24},
                     {"ids", DType::I64, {3}, ids.data(), 24},
                     {"half", DType::F16, {2}, half.data(), 4},
                     {"mask", DType::BOOL, {2}, mask.data(), 2},
                     {"third", DType::F64, {}, &one, 8}},
                    {{"format", "np"}, {"note", "written by rleif"}});
  std::string out = dir + "/values.json";
  std::string script = R"(
import json, sys
from safetensors import safe_open
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="np") as f:
    meta = f.metadata()
json.dump({"meta": meta, "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.ravel().tolist()}
           for k, v in t.items()}}, open(sys.argv[2], "w"))
)";
  auto r = run_command({python_bin(), "-c", script, path, out});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json j = json::parse(read_file(out));
  EXPECT_EQ(j["meta"]["note"], "written by rleif");
  const json& t = j["tensors"];
  EXPECT_EQ(t["w"]["dtype"], "float32");
  EXPECT_EQ(t["w"]["shape"], json({3, 2}));
  EXPECT_EQ(t["w"]["values"].get<std::vector<float>>(), w);
  EXPECT_EQ(t["ids"]["dtype"], "int64");
  EXPECT_EQ(t["ids"]["values"].get<std::vector<int64_t>>(), ids);
  EXPECT_EQ(t["half"]["dtype"], "float16");
  EXPECT_EQ(t["half"]["values"], json({1.0, -4.0}));
  EXPECT_EQ(t["mask"]["dtype"], "bool");
  EXPECT_EQ(t["mask"]["values"], json({true, false}));
  EXPECT_EQ(t["third"]["shape"], json::array());
  EXPECT_EQ(t["third"]["values"][0].get<double>(), one);
}

TEST(Safetensors, ShardedDirectoryFollowsTheIndex) {
  std::string dir = temp_dir("st");
  float a[2] = {1, 2}, b[3] = {3, 4, 5};
  write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", DType::F32, {2}, a, 8}});
  write_safetensors(dir + "/model-00002-of-00002.safetensors", {{"b", DType::F32, {3}, b, 12}});
  write_file_atomic(dir + "/model.safetensors.index.json",
                    R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                       "b": "model-00002-of-00002.safetensors"}})");
  SafetensorsDir d(dir);
  EXPECT_EQ(d.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.get("b").shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(reinterpret_cast<const float*>(d.get("b").data)[2], 5.0f);
  EXPECT_FALSE(d.contains("c"));
  try {
    d.get("c");
    ADD_FAILURE() << "missing tensor returned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'c'"), std::string::npos) << e.what();
  }
}

// ---- one test per kind of bad file ----

TEST(SafetensorsErrors, FileShorterThanEightBytes) {
  std::string path = temp_dir("st") + "/short.safetensors";
  std::ofstream(path, std::ios::binary) << "abcde";
  expect_load_error(path, {path, "5 bytes", "too short"});
}

TEST(SafetensorsErrors, HeaderCutOff) {
  std::string path = temp_dir("st") + "/cut.safetensors";
  float x[4] = {1, 2, 3, 4};
  write_safetensors(path, {{"x", DType::F32, {4}, x, 16}});
  std::string raw = bytes_of(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << raw.substr(0, 20);
  expect_load_error(path, {path, "header length", "runs past the end", "truncated"});
}

TEST(SafetensorsErrors, DataCutOff) {
  std::string path = temp_dir("st") + "/cut.safetensors";
  float x[4] = {1, 2, 3, 4}, y[2] = {5, 6};
  write_safetensors(path, {{"x", DType::F32, {4}, x, 16}, {"y", DType::F32, {2}, y, 8}});
  std::string raw = bytes_of(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << raw.substr(0, raw.size() - 4);
  expect_load_error(path, {path, "tensor 'y'", "past the end of the data", "truncated"});
}

TEST(SafetensorsErrors, HeaderLengthPastEndOfFile) {
  std::string path = temp_dir("st") + "/len.safetensors";
  write_raw(path, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'), 4096);
  expect_load_error(path, {path, "header length 4096", "runs past the end"});
}

TEST(SafetensorsErrors, ImplausibleHeaderLengthDoesNotOverflow) {
  std::string path = temp_dir("st") + "/huge.safetensors";
  write_raw(path, "{}", "", std::numeric_limits<int64_t>::max());
  expect_load_error(path, {path, "implausible"});
}

TEST(SafetensorsErrors, OffsetsPastEndOfData) {
  std::string path = temp_dir("st") + "/off.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  expect_load_error(path, {path, "tensor 'w'", "[0, 16]", "past the end of the data (8 bytes)"});
}

TEST(SafetensorsErrors, OverlappingTensors) {
  std::string path = temp_dir("st") + "/overlap.safetensors";
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            std::string(12, '\0'));
  expect_load_error(path, {path, "'a'", "'b'", "overlap"});
}

TEST(SafetensorsErrors, SizeDisagreesWithShapeTimesDtype) {
  std::string path = temp_dir("st") + "/size.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  expect_load_error(path, {path, "tensor 'w'", "hold 8 bytes", "[3] of F32 needs 12 bytes"});
}

TEST(SafetensorsErrors, ShapeWhoseSizeOverflows) {
  std::string path = temp_dir("st") + "/overflow.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "");
  expect_load_error(path, {path, "tensor 'w'", "overflows"});
}

TEST(SafetensorsErrors, UnknownDtype) {
  std::string path = temp_dir("st") + "/dtype.safetensors";
  write_raw(path, R"({"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'));
  expect_load_error(path, {path, "tensor 'w'", "unsupported dtype 'Q4_K'", "BF16"});
}

TEST(SafetensorsErrors, MalformedHeaderJson) {
  std::string path = temp_dir("st") + "/json.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[1],)", std::string(4, '\0'));
  expect_load_error(path, {path, "header is not valid JSON"});
}

TEST(SafetensorsErrors, HeaderNotAnObject) {
  std::string path = temp_dir("st") + "/array.safetensors";
  write_raw(path, "[1, 2, 3]", "");
  expect_load_error(path, {path, "header must be a JSON object"});
}

TEST(SafetensorsErrors, MetadataValueNotAString) {
  std::string path = temp_dir("st") + "/meta.safetensors";
  write_raw(path, R"({"__metadata__":{"step":12}})", "");
  expect_load_error(path, {path, "'__metadata__'", "'step'", "must be a string"});
}

TEST(SafetensorsErrors, NegativeShape) {
  std::string path = temp_dir("st") + "/neg.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})", std::string(8, '\0'));
  expect_load_error(path, {path, "tensor 'w'", "non-negative", "[-1,2]"});
}

TEST(SafetensorsErrors, MissingShardInIndex) {
  std::string dir = temp_dir("st");
  float a[1] = {1};
  write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", DType::F32, {1}, a, 4}});
  write_file_atomic(dir + "/model.safetensors.index.json",
                    R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  try {
    SafetensorsDir d(dir);
    ADD_FAILURE() << "loaded a directory with a missing shard";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.safetensors.index.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'b'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  }
}

TEST(SafetensorsErrors, IndexListsTensorAbsentFromShard) {
  std::string dir = temp_dir("st");
  float a[1] = {1};
  write_safetensors(dir + "/shard.safetensors", {{"a", DType::F32, {1}, a, 4}});
  write_file_atomic(dir + "/model.safetensors.index.json",
                    R"({"weight_map": {"a": "shard.safetensors", "ghost": "shard.safetensors"}})");
  try {
    SafetensorsDir d(dir);
    ADD_FAILURE() << "loaded an index naming a tensor its shard lacks";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'ghost'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shard.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not contain it"), std::string::npos) << msg;
  }
}

TEST(SafetensorsErrors, DirectoryWithoutWeights) {
  std::string dir = temp_dir("st");
  try {
    SafetensorsDir d(dir);
    ADD_FAILURE() << "loaded an empty directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rleif
