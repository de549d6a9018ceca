// Writers for llm.c checkpoints and Hugging Face GPT-2 safetensors, and the
// llm.c checkpoint reader. Thread-safety: no shared state.
#include "worker/model/export.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pserve {
namespace {

constexpr int kHeaderInts = 256;

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

absl::Status WriteError(const std::string& path) {
  return absl::InternalError(
      absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(FILE* f, const void* data, size_t bytes,
                      const std::string& path) {
  if (bytes > 0 && std::fwrite(data, 1, bytes, f) != bytes) {
    return WriteError(path);
  }
  return absl::OkStatus();
}

absl::Status CloseChecked(File file, const std::string& path) {
  FILE* f = file.release();
  const bool flushed = std::fflush(f) == 0;
  if (std::fclose(f) != 0 || !flushed) return WriteError(path);
  return absl::OkStatus();
}

std::vector<SafetensorsEntry> SafetensorsEntries(const GptConfig& c,
                                                 const float* params) {
  const auto off = GptTensorOffsets(c);
  const size_t C = c.channels, V = c.vocab_size, T = c.max_seq_len;
  auto at = [&](int tensor, size_t elem) {
    return params + off[tensor] + elem;
  };
  std::vector<SafetensorsEntry> e;
  auto vec = [&](std::string name, const float* src, size_t n) {
    e.push_back({std::move(name), {static_cast<int64_t>(n)}, src, 1, n, false});
  };
  // Our (out, in) weight becomes Conv1D's (in, out).
  auto conv = [&](std::string name, const float* src, size_t out, size_t in) {
    e.push_back({std::move(name),
                 {static_cast<int64_t>(in), static_cast<int64_t>(out)},
                 src,
                 out,
                 in,
                 true});
  };
  e.push_back({"wte.weight",
               {static_cast<int64_t>(V), static_cast<int64_t>(C)},
               at(kWte, 0),
               V,
               C,
               false});
  e.push_back({"wpe.weight",
               {static_cast<int64_t>(T), static_cast<int64_t>(C)},
               at(kWpe, 0),
               T,
               C,
               false});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string h = absl::StrCat("h.", i, ".");
    const size_t l = i;
    vec(h + "ln_1.weight", at(kLn1w, l * C), C);
    vec(h + "ln_1.bias", at(kLn1b, l * C), C);
    conv(h + "attn.c_attn.weight", at(kQkvw, l * 3 * C * C), 3 * C, C);
    vec(h + "attn.c_attn.bias", at(kQkvb, l * 3 * C), 3 * C);
    conv(h + "attn.c_proj.weight", at(kAttprojw, l * C * C), C, C);
    vec(h + "attn.c_proj.bias", at(kAttprojb, l * C), C);
    vec(h + "ln_2.weight", at(kLn2w, l * C), C);
    vec(h + "ln_2.bias", at(kLn2b, l * C), C);
    conv(h + "mlp.c_fc.weight", at(kFcw, l * 4 * C * C), 4 * C, C);
    vec(h + "mlp.c_fc.bias", at(kFcb, l * 4 * C), 4 * C);
    conv(h + "mlp.c_proj.weight", at(kFcprojw, l * 4 * C * C), C, 4 * C);
    vec(h + "mlp.c_proj.bias", at(kFcprojb, l * C), C);
  }
  vec("ln_f.weight", at(kLnfw, 0), C);
  vec("ln_f.bias", at(kLnfb, 0), C);
  return e;
}

// Parameters the config declares, without overflow for any int32 fields.
unsigned __int128 NumParametersWide(const GptConfig& c) {
  unsigned __int128 total = 0;
  for (int i = 0; i < kNumGptTensors; ++i) {
    unsigned __int128 n = 1;
    for (int64_t d : GptTensorShape(c, i)) n *= static_cast<uint64_t>(d);
    total += n;
  }
  return total;
}

// Bytes from the current position of f to its end (0 if it cannot tell).
int64_t BytesLeft(FILE* f) {
  const long here = std::ftell(f);
  if (here < 0 || std::fseek(f, 0, SEEK_END) != 0) return 0;
  const long end = std::ftell(f);
  if (end < here || std::fseek(f, here, SEEK_SET) != 0) return 0;
  return end - here;
}

}  // namespace

absl::Status SaveLlmcCheckpoint(const std::string& path,
                                const GptConfig& config, const float* params) {
  if (absl::Status s = ValidateGptConfig(config); !s.ok()) return s;
  int32_t header[kHeaderInts] = {0};
  header[0] = kLlmcCheckpointMagic;
  header[1] = kLlmcCheckpointVersion;
  header[2] = config.max_seq_len;
  header[3] = config.vocab_size;
  header[4] = config.num_layers;
  header[5] = config.num_heads;
  header[6] = config.channels;
  header[7] = config.padded_vocab_size;
  File f(std::fopen(path.c_str(), "wb"));
  if (f == nullptr) return WriteError(path);
  if (absl::Status s = WriteAll(f.get(), header, sizeof(header), path);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteAll(f.get(), params,
                                GptNumParameters(config) * sizeof(float), path);
      !s.ok()) {
    return s;
  }
  return CloseChecked(std::move(f), path);
}

absl::Status SaveSafetensors(const std::string& path, const GptConfig& config,
                             const float* params) {
  if (absl::Status s = ValidateGptConfig(config); !s.ok()) return s;
  return WriteSafetensors(path, SafetensorsEntries(config, params));
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries) {
  std::vector<std::string> fields;
  size_t begin = 0;
  for (const SafetensorsEntry& e : entries) {
    fields.push_back(
        absl::StrCat("\"", e.name, "\":{\"dtype\":\"F32\",\"shape\":[",
                     absl::StrJoin(e.shape, ","), "],\"data_offsets\":[", begin,
                     ",", begin + e.bytes(), "]}"));
    begin += e.bytes();
  }
  std::string json = absl::StrCat("{\"__metadata__\":{\"format\":\"pt\"},",
                                  absl::StrJoin(fields, ","), "}");
  while (json.size() % 8 != 0) json.push_back(' ');  // align the data
  const uint64_t header_len = json.size();           // little-endian on x86-64
  File f(std::fopen(path.c_str(), "wb"));
  if (f == nullptr) return WriteError(path);
  absl::Status s = WriteAll(f.get(), &header_len, sizeof(header_len), path);
  if (s.ok()) s = WriteAll(f.get(), json.data(), json.size(), path);
  std::vector<float> buf;
  for (const SafetensorsEntry& e : entries) {
    if (!s.ok()) return s;
    if (!e.transpose) {
      s = WriteAll(f.get(), e.src, e.bytes(), path);
      continue;
    }
    buf.resize(e.rows * e.cols);  // (cols, rows) = src^T
    for (size_t r = 0; r < e.rows; ++r) {
      for (size_t col = 0; col < e.cols; ++col) {
        buf[col * e.rows + r] = e.src[r * e.cols + col];
      }
    }
    s = WriteAll(f.get(), buf.data(), e.bytes(), path);
  }
  if (!s.ok()) return s;
  return CloseChecked(std::move(f), path);
}

std::string SafetensorsPathFor(const std::string& checkpoint_path) {
  const size_t slash = checkpoint_path.find_last_of('/');
  const size_t dot = checkpoint_path.find_last_of('.');
  const bool has_ext =
      dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return (has_ext ? checkpoint_path.substr(0, dot) : checkpoint_path) +
         ".safetensors";
}

absl::Status ExportModel(const std::string& path, const GptConfig& config,
                         const float* params) {
  if (absl::Status s = SaveLlmcCheckpoint(path, config, params); !s.ok()) {
    return s;
  }
  return SaveSafetensors(SafetensorsPathFor(path), config, params);
}

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  int32_t header[kHeaderInts];
  if (std::fread(header, sizeof(int32_t), kHeaderInts, f.get()) !=
      kHeaderInts) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated header (need 1024 bytes)"));
  }
  if (header[0] != kLlmcCheckpointMagic) {
    return absl::DataLossError(absl::StrCat(path, ": bad magic ", header[0],
                                            " (want ", kLlmcCheckpointMagic,
                                            "): not an llm.c checkpoint"));
  }
  if (header[1] != kLlmcCheckpointVersion) {
    return absl::DataLossError(
        absl::StrCat(path, ": unsupported version ", header[1], " (want ",
                     kLlmcCheckpointVersion, ", fp32 with padded vocab)"));
  }
  LoadedCheckpoint out;
  out.config = {header[2], header[3], header[7],
                header[4], header[5], header[6]};
  if (absl::Status s = ValidateGptConfig(out.config); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": bad header: ", s.message()));
  }
  // Sized from the file before allocating, so a header that declares a
  // huge model is refused instead of exhausting memory.
  const unsigned __int128 n = NumParametersWide(out.config);
  const int64_t present = BytesLeft(f.get()) / sizeof(float);
  if (n > static_cast<unsigned __int128>(present)) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated: ", present, " of ", static_cast<double>(n),
        " parameters present (", GptConfigString(out.config), ")"));
  }
  out.params.resize(static_cast<size_t>(n));
  const size_t got =
      std::fread(out.params.data(), sizeof(float), out.params.size(), f.get());
  if (got != out.params.size() || std::fgetc(f.get()) != EOF) {
    return absl::DataLossError(absl::StrCat(path, ": trailing bytes after ",
                                            out.params.size(),
                                            " parameters (config mismatch?)"));
  }
  return out;
}

}  // namespace pserve
