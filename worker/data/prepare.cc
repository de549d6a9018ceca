// Dataset preparation; see prepare.h.
// Thread-safety: no shared state.
#include "worker/data/prepare.h"

#include <chrono>
#include <filesystem>
#include <numeric>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/data/bpe_trainer.h"
#include "worker/data/shuffle.h"
#include "worker/data/text_corpus.h"
#include "worker/data/token_shard.h"
#include "worker/data/tokenizer.h"

namespace pserve {

absl::StatusOr<PrepareResult> PrepareDataset(const PrepareOptions& options) {
  if (options.input.empty()) {
    return absl::InvalidArgumentError(
        "no input given: pass a text file or a directory of text files");
  }
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError(
        "no output directory given: pass the directory for train.bin, "
        "val.bin and tokenizer.bin");
  }
  if (!(options.val_fraction >= 0.0 && options.val_fraction < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("val_fraction ", options.val_fraction,
                     " is outside [0, 1); 0.1 keeps the last 10% for val"));
  }
  const bool bpe = options.bpe_vocab != 0 && options.bpe_vocab != 256;
  if (bpe && (options.bpe_vocab < 257 || options.bpe_vocab > kMaxShardVocab)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bpe_vocab ", options.bpe_vocab,
        " is invalid: use 0 (byte-level, 256 tokens) or 257..65536"));
  }

  absl::StatusOr<TextCorpus> corpus = ReadTextCorpus(options.input);
  if (!corpus.ok()) return corpus.status();
  PrepareResult r;
  r.documents = static_cast<int64_t>(corpus->documents.size());
  r.files_read = corpus->files_read;
  r.fortune_files = corpus->fortune_files;
  r.binary_skipped = corpus->binary_skipped;
  r.links_skipped = corpus->links_skipped;
  r.text_bytes = corpus->bytes;

  std::vector<std::string> docs = std::move(corpus->documents);
  if (options.shuffle_docs) DeterministicShuffle(docs, options.seed);

  Tokenizer tokenizer = Tokenizer::ByteLevel();
  if (bpe) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<Tokenizer> trained = TrainBpe(docs, options.bpe_vocab);
    if (!trained.ok()) return trained.status();
    tokenizer = std::move(trained).value();
    r.bpe_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  r.vocab_size = tokenizer.vocab_size();

  std::vector<int32_t> stream;
  stream.reserve(static_cast<size_t>(corpus->bytes) + docs.size());
  for (const std::string& d : docs) {
    stream.push_back(tokenizer.eot_token());
    const std::vector<int32_t> ids = tokenizer.Encode(d);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const int64_t n = static_cast<int64_t>(stream.size());
  r.val_tokens =
      static_cast<int64_t>(options.val_fraction * static_cast<double>(n));
  r.train_tokens = n - r.val_tokens;

  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create output directory ",
                                            options.out_dir, ": ",
                                            ec.message()));
  }
  const std::filesystem::path dir(options.out_dir);
  r.train_path = (dir / "train.bin").string();
  r.val_path = (dir / "val.bin").string();
  r.tokenizer_path = (dir / "tokenizer.bin").string();
  const std::vector<int32_t> val(stream.begin() + r.train_tokens, stream.end());
  stream.resize(static_cast<size_t>(r.train_tokens));
  if (absl::Status s = WriteTokenShard(r.train_path, stream); !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteTokenShard(r.val_path, val); !s.ok()) return s;
  if (absl::Status s = tokenizer.Save(r.tokenizer_path); !s.ok()) return s;
  return r;
}

std::string PrepareSummary(const PrepareResult& r) {
  std::string bpe;
  if (r.bpe_seconds > 0)
    bpe = absl::StrFormat(", BPE trained in %.2fs", r.bpe_seconds);
  return absl::StrCat("ps_prepare: ", r.files_read, " files (", r.fortune_files,
                      " fortune files; skipped ", r.binary_skipped, " binary, ",
                      r.links_skipped, " links), ", r.documents, " documents, ",
                      r.text_bytes, " bytes -> train ", r.train_tokens,
                      " tokens (", r.train_path, "), val ", r.val_tokens,
                      " tokens (", r.val_path, "), vocab ", r.vocab_size,
                      r.vocab_size == 256 ? " byte-level" : " BPE", " (",
                      r.tokenizer_path, ")", bpe);
}

}  // namespace pserve
