// Model export: llm.c's fp32 checkpoint format (magic 20240326, version 3)
// and Hugging Face GPT-2 safetensors, plus loading the llm.c format back.
// Thread-safety: free functions with no shared state; distinct paths may be
// written from different threads.
#ifndef PSERVE_WORKER_MODEL_EXPORT_H_
#define PSERVE_WORKER_MODEL_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/model/gpt_config.h"

namespace pserve {

inline constexpr int kLlmcCheckpointMagic = 20240326;
inline constexpr int kLlmcCheckpointVersion = 3;  // fp32, padded vocab

// Writes `params` (GptNumParameters(config) floats, llm.c order) to `path`
// as header (256 int32: magic, version, maxT, V, L, NH, C, Vp, then zeros)
// followed by the fp32 parameters. INVALID_ARGUMENT for a bad config,
// INTERNAL (with the path and errno text) if the file cannot be written.
absl::Status SaveLlmcCheckpoint(const std::string& path,
                                const GptConfig& config, const float* params);

// Writes `params` to `path` as safetensors with Hugging Face GPT-2 names:
// wte.weight (V, C: padded rows dropped), wpe.weight, h.{i}.ln_1.weight,
// h.{i}.attn.c_attn.weight (C, 3C: Conv1D (in, out), our (3C, C)
// transposed), ..., ln_f.bias. Errors as SaveLlmcCheckpoint.
absl::Status SaveSafetensors(const std::string& path, const GptConfig& config,
                             const float* params);

// One tensor of a safetensors file: `rows` x `cols` floats at `src`
// (row-major), written as is or transposed; `shape` is the shape stored in
// the file (its element count must be rows * cols).
struct SafetensorsEntry {
  std::string name;
  std::vector<int64_t> shape;
  const float* src;
  size_t rows, cols;
  bool transpose;
  size_t bytes() const { return rows * cols * sizeof(float); }
};

// Writes `entries`, in order, as an F32 safetensors file at `path` (header
// padded to 8 bytes). INTERNAL with the path and errno text on I/O errors.
// Blocks on disk I/O.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries);

// The safetensors path beside an llm.c checkpoint: "dir/model.bin" ->
// "dir/model.safetensors" (the extension, if any, replaced).
std::string SafetensorsPathFor(const std::string& checkpoint_path);

// Writes both: the llm.c checkpoint at `path` and the safetensors at
// SafetensorsPathFor(path).
absl::Status ExportModel(const std::string& path, const GptConfig& config,
                         const float* params);

struct LoadedCheckpoint {
  GptConfig config;
  std::vector<float> params;  // GptNumParameters(config), llm.c order
};

// Reads an llm.c checkpoint written by SaveLlmcCheckpoint (or by llm.c).
// NOT_FOUND if it cannot be opened; DATA_LOSS with a one-line message for a
// bad magic, an unsupported version, an invalid config or a truncated file.
absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path);

}  // namespace pserve

#endif  // PSERVE_WORKER_MODEL_EXPORT_H_
