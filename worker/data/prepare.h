// The dataset preparation behind ps_prepare: text in, llm.c token shards
// (train.bin, val.bin) and tokenizer file (tokenizer.bin) out.
// Thread-safety: a pure function over the file system; no shared state.
#ifndef PSERVE_WORKER_DATA_PREPARE_H_
#define PSERVE_WORKER_DATA_PREPARE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pserve {

struct PrepareOptions {
  std::string input;          // A text file or a directory (text_corpus.h).
  std::string out_dir;        // Created if missing.
  double val_fraction = 0.1;  // In [0, 1): the tail of the token stream.
  int bpe_vocab = 0;          // 0 or 256: byte-level; 257..65536: train BPE.
  uint64_t seed = 0;          // Seeds the document shuffle.
  bool shuffle_docs = true;   // Shuffle documents before concatenating.
};

struct PrepareResult {
  std::string train_path, val_path, tokenizer_path;
  int64_t train_tokens = 0;
  int64_t val_tokens = 0;
  int vocab_size = 0;
  int64_t documents = 0;
  int files_read = 0;
  int fortune_files = 0;
  int binary_skipped = 0;
  int links_skipped = 0;
  int64_t text_bytes = 0;
  double bpe_seconds = 0;  // Time spent training the BPE, if any.
};

// Reads the corpus, optionally shuffles its documents (Fisher-Yates from
// `seed`), builds the tokenizer (byte-level, or BPE trained on all the
// text), and encodes the documents into one stream, each document preceded
// by the eot token (byte 0), as llm.c's data scripts do. The last
// floor(val_fraction * n) tokens of the n-token stream become val.bin, the
// rest train.bin. The same inputs and options always give the same files.
// Returns INVALID_ARGUMENT for bad options, the errors of ReadTextCorpus /
// TrainBpe, INTERNAL when out_dir cannot be created or a file written; one
// line each. Blocks on disk I/O; CPU bound while training and encoding.
absl::StatusOr<PrepareResult> PrepareDataset(const PrepareOptions& options);

// One line describing `result` for people: token counts, vocab, files.
std::string PrepareSummary(const PrepareResult& result);

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_PREPARE_H_
