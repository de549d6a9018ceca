// ps_generate: continues a prompt with a model that ps_worker exported
// (llm.c checkpoint), on the CPU backend, and prints only the new text to
// stdout. Bad flags or files exit 2 with one line saying what was wrong.
// Threads: single-threaded apart from the CPU backend's OpenMP threads.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "kernels/ops.h"
#include "worker/data/tokenizer.h"
#include "worker/model/export.h"
#include "worker/model/gpt.h"
#include "worker/sampler.h"

ABSL_FLAG(std::string, model, "",
          "Required. A model exported by ps_worker --export (llm.c .bin).");
ABSL_FLAG(std::string, tokenizer, "",
          "Tokenizer file (tokenizer.bin from ps_prepare); empty: byte level.");
ABSL_FLAG(std::string, prompt, "",
          "Text to continue; empty starts a document.");
ABSL_FLAG(int, max_tokens, 64,
          "Tokens to generate (stops early at end of text).");
ABSL_FLAG(double, temperature, 1.0, "Softmax temperature; <= 0 is greedy.");
ABSL_FLAG(int, top_k, 40,
          "Sample among the K likeliest tokens; 1 is greedy, "
          "0 keeps all.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the sampler (same seed, same text).");
ABSL_FLAG(int, threads, 1, "CPU backend threads (0: all cores).");

namespace pserve {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "ps_generate: %s\n", message.c_str());
  return 2;
}

absl::StatusOr<Tokenizer> LoadTokenizer(const std::string& path, int vocab) {
  if (path.empty()) return Tokenizer::ByteLevel();
  absl::StatusOr<Tokenizer> tok = Tokenizer::Load(path);
  if (!tok.ok()) return tok.status();
  if (tok->vocab_size() > vocab)
    return absl::InvalidArgumentError(absl::StrCat(
        "--tokenizer=", path, " has ", tok->vocab_size(),
        " tokens but the model only ", vocab, "; use the model's tokenizer"));
  return tok;
}

// Appends up to max_tokens sampled tokens to `tokens`, returning the new
// ones. Each step reruns the model on the last max_seq_len tokens.
absl::StatusOr<std::vector<int32_t>> Generate(Gpt* model, Sampler* sampler,
                                              std::vector<int32_t> tokens,
                                              int max_tokens, int32_t eot) {
  const GptConfig& c = model->config();
  std::vector<float> logits(c.padded_vocab_size);
  std::vector<int32_t> out;
  for (int i = 0; i < max_tokens; ++i) {
    const int T = std::min<int>(tokens.size(), c.max_seq_len);
    absl::StatusOr<float> s =
        model->Forward(tokens.data() + tokens.size() - T, nullptr, 1, T);
    if (!s.ok()) return s.status();
    model->GetLogitsAt(0, T - 1, logits.data());
    const int32_t next = sampler->Sample(logits.data(), c.vocab_size);
    if (next == eot) break;
    tokens.push_back(next);
    out.push_back(next);
  }
  return out;
}

int Run() {
  const std::string path = absl::GetFlag(FLAGS_model);
  if (path.empty())
    return Fail("--model is required: a file written by ps_worker --export");
  if (absl::GetFlag(FLAGS_max_tokens) < 0)
    return Fail("--max_tokens must be >= 0");
  absl::StatusOr<LoadedCheckpoint> ckpt = LoadCheckpoint(path);
  if (!ckpt.ok()) return Fail(std::string(ckpt.status().message()));
  absl::StatusOr<Tokenizer> tok =
      LoadTokenizer(absl::GetFlag(FLAGS_tokenizer), ckpt->config.vocab_size);
  if (!tok.ok()) return Fail(std::string(tok.status().message()));
  std::unique_ptr<Backend> backend =
      MakeCpuBackend(std::max(0, absl::GetFlag(FLAGS_threads)));
  absl::StatusOr<std::unique_ptr<Gpt>> model =
      Gpt::Create(ckpt->config, backend.get());
  if (!model.ok()) return Fail(std::string(model.status().message()));
  (*model)->SetParameters(ckpt->params.data());
  std::vector<int32_t> tokens = tok->Encode(absl::GetFlag(FLAGS_prompt));
  if (tokens.empty()) tokens.push_back(tok->eot_token());
  Sampler sampler(absl::GetFlag(FLAGS_temperature), absl::GetFlag(FLAGS_top_k),
                  absl::GetFlag(FLAGS_seed));
  absl::StatusOr<std::vector<int32_t>> out =
      Generate(model->get(), &sampler, tokens, absl::GetFlag(FLAGS_max_tokens),
               tok->eot_token());
  if (!out.ok()) return Fail(std::string(out.status().message()));
  const std::string text = tok->Decode(*out);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace pserve

int main(int argc, char** argv) {
  pserve::InitCommandLine(
      argc, argv,
      "generates text with a model exported by ps_worker.\n"
      "Example: ps_generate --model=model.bin --tokenizer=data/tokenizer.bin "
      "--prompt='Once upon a time' --max_tokens=100 --top_k=40",
      {"worker/generate_main"});
  return pserve::Run();
}
