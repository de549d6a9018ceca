// Tests of model export: llm.c checkpoint round trip (bit-identical params,
// identical logits), loader errors, and the safetensors layout.
// Thread-safety: single-threaded tests.
#include "worker/model/export.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "worker/model/gpt.h"

namespace pserve {
namespace {

// V < Vp so that the safetensors drops padded rows.
const GptConfig kConfig = {/*T=*/32, /*V=*/200, /*Vp=*/256,
                           /*L=*/2,  /*NH=*/4,  /*C=*/32};

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::vector<float> RandomParams(const GptConfig& c) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<float> p(GptNumParameters(c));
  for (float& x : p) x = normal(rng);
  return p;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::vector<float> Logits(const GptConfig& c, const std::vector<float>& p) {
  auto backend = MakeCpuBackend(2);
  auto model = Gpt::Create(c, backend.get());
  REQUIRE(model.ok());
  (*model)->SetParameters(p.data());
  std::vector<int32_t> tokens(2 * 8);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = (i * 37) % 200;
  REQUIRE((*model)->Forward(tokens.data(), nullptr, 2, 8).ok());
  std::vector<float> logits(2 * 8 * c.padded_vocab_size);
  (*model)->GetLogits(logits.data());
  return logits;
}

TEST_CASE("llm.c checkpoint round trip is bit-identical") {
  const std::vector<float> params = RandomParams(kConfig);
  const std::string path = TmpPath("model.bin");
  REQUIRE(ExportModel(path, kConfig, params.data()).ok());
  absl::StatusOr<LoadedCheckpoint> loaded = LoadCheckpoint(path);
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  CHECK(loaded->config == kConfig);
  REQUIRE(loaded->params.size() == params.size());
  CHECK(std::memcmp(loaded->params.data(), params.data(),
                    params.size() * sizeof(float)) == 0);
  CHECK(Logits(loaded->config, loaded->params) == Logits(kConfig, params));

  const std::string bytes = ReadFile(path);
  REQUIRE(bytes.size() == 1024 + params.size() * 4);
  int32_t header[8];
  std::memcpy(header, bytes.data(), sizeof(header));
  CHECK(header[0] == 20240326);
  CHECK(header[1] == 3);
  CHECK(header[2] == 32);   // maxT
  CHECK(header[3] == 200);  // V
  CHECK(header[4] == 2);    // L
  CHECK(header[5] == 4);    // NH
  CHECK(header[6] == 32);   // C
  CHECK(header[7] == 256);  // Vp
}

TEST_CASE("LoadCheckpoint rejects bad files with one-line errors") {
  const std::vector<float> params = RandomParams(kConfig);
  const std::string path = TmpPath("good.bin");
  REQUIRE(SaveLlmcCheckpoint(path, kConfig, params.data()).ok());
  const std::string good = ReadFile(path);
  auto load_bytes = [](const std::string& bytes) {
    const std::string p = TmpPath("bad.bin");
    WriteFile(p, bytes);
    return LoadCheckpoint(p).status();
  };
  auto message_has = [](const absl::Status& s, const char* text) {
    const std::string m(s.message());
    return m.find(text) != std::string::npos &&
           m.find('\n') == std::string::npos;
  };
  std::string bad = good;
  bad[0] = 1;
  absl::Status s = load_bytes(bad);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(message_has(s, "bad magic"));
  bad = good;
  bad[4] = 5;
  s = load_bytes(bad);
  CHECK(message_has(s, "unsupported version 5"));
  s = load_bytes(good.substr(0, good.size() - 4));
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(message_has(s, "truncated"));
  s = load_bytes(good.substr(0, 100));
  CHECK(message_has(s, "truncated header"));
  s = load_bytes(good + "x");
  CHECK(message_has(s, "trailing"));
  // A header declaring a model far larger than the file (here L, C and Vp
  // near INT32_MAX, whose parameter count overflows 64 bits) is refused
  // before anything is allocated.
  bad = good;
  const int32_t huge[] = {2147483520, 2147483647, 2147483647, 2147483520};
  std::memcpy(&bad[3 * 4], &huge[0], 4);  // V
  std::memcpy(&bad[4 * 4], &huge[1], 4);  // L
  std::memcpy(&bad[6 * 4], &huge[2], 4);  // C (NH = 1 divides it)
  std::memcpy(&bad[7 * 4], &huge[3], 4);  // Vp
  std::memcpy(&bad[5 * 4], "\x01\0\0\0", 4);
  s = load_bytes(bad);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(message_has(s, "truncated"));
  CHECK(LoadCheckpoint(TmpPath("missing.bin")).status().code() ==
        absl::StatusCode::kNotFound);
}

// Shape and [begin, end) of `name` in a safetensors JSON header.
bool FindTensor(const std::string& json, const std::string& name,
                std::vector<long>* shape, long* begin, long* end) {
  const std::string key = "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[";
  size_t at = json.find(key);
  if (at == std::string::npos) return false;
  at += key.size();
  shape->clear();
  const size_t close = json.find(']', at);
  std::stringstream dims(json.substr(at, close - at));
  for (std::string d; std::getline(dims, d, ',');)
    shape->push_back(std::stol(d));
  const std::string off = "\"data_offsets\":[";
  at = json.find(off, close) + off.size();
  return std::sscanf(json.c_str() + at, "%ld,%ld", begin, end) == 2;
}

TEST_CASE("safetensors has Hugging Face names and Conv1D layouts") {
  const std::vector<float> params = RandomParams(kConfig);
  const std::string path = TmpPath("hf.bin");
  REQUIRE(ExportModel(path, kConfig, params.data()).ok());
  CHECK(SafetensorsPathFor("/a/b.c/model.bin") == "/a/b.c/model.safetensors");
  CHECK(SafetensorsPathFor("/a/b.c/model") == "/a/b.c/model.safetensors");
  const std::string bytes = ReadFile(TmpPath("hf.safetensors"));
  REQUIRE(bytes.size() > 8);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  REQUIRE(n % 8 == 0);
  const std::string json = bytes.substr(8, n);
  const char* data = bytes.data() + 8 + n;
  CHECK(json.find("\"__metadata__\":{\"format\":\"pt\"}") != std::string::npos);

  const size_t C = 32, off_qkvw = GptTensorOffsets(kConfig)[kQkvw];
  std::vector<long> shape;
  long begin = 0, end = 0;
  REQUIRE(FindTensor(json, "h.1.attn.c_attn.weight", &shape, &begin, &end));
  CHECK(shape == std::vector<long>{32, 96});
  REQUIRE(end - begin == static_cast<long>(C * 3 * C * 4));
  std::vector<float> w(C * 3 * C);
  std::memcpy(w.data(), data + begin, end - begin);
  const float* ours = params.data() + off_qkvw + 3 * C * C;  // layer 1
  for (size_t out = 0; out < 3 * C; ++out) {
    for (size_t in = 0; in < C; ++in) {
      REQUIRE(w[in * 3 * C + out] == ours[out * C + in]);
    }
  }
  REQUIRE(FindTensor(json, "wte.weight", &shape, &begin, &end));
  CHECK(shape == std::vector<long>{200, 32});
  CHECK(std::memcmp(data + begin, params.data(), 200 * C * 4) == 0);
  REQUIRE(FindTensor(json, "h.0.mlp.c_proj.weight", &shape, &begin, &end));
  CHECK(shape == std::vector<long>{128, 32});
  REQUIRE(FindTensor(json, "ln_f.bias", &shape, &begin, &end));
  CHECK(std::memcmp(data + begin,
                    params.data() + GptTensorOffsets(kConfig)[kLnfb],
                    C * 4) == 0);
  long total = 0;
  for (const char* name : {"wpe.weight", "h.0.ln_1.weight", "h.1.ln_2.bias",
                           "h.1.mlp.c_fc.bias", "ln_f.weight", "ln_f.bias"}) {
    CHECK(FindTensor(json, name, &shape, &begin, &end));
    total = std::max(total, end);
  }
  CHECK(8 + n + static_cast<uint64_t>(total) == bytes.size());
}

}  // namespace
}  // namespace pserve
