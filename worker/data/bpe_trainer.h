// Deterministic byte-level BPE training: repeatedly merge the most frequent
// adjacent pair of tokens, with incremental pair counts.
// Thread-safety: TrainBpe is a pure function; call it from any thread.
#ifndef PSERVE_WORKER_DATA_BPE_TRAINER_H_
#define PSERVE_WORKER_DATA_BPE_TRAINER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/tokenizer.h"

namespace pserve {

// Trains a byte-level BPE tokenizer of exactly `vocab_size` tokens
// (257..65536) on `docs`, starting from the 256 bytes. Each step merges the
// adjacent pair with the highest count; ties go to the smallest
// (left id, right id). Pairs never span two documents, never include the
// eot token (byte kByteLevelEot), and never make a token longer than 255
// bytes (the tokenizer file's limit). The result is a function of the
// documents' contents and order only, so two trainings agree exactly.
// Returns INVALID_ARGUMENT for a vocab_size out of range or more than 2^31-1
// bytes of text, FAILED_PRECONDITION when the text runs out of pairs before
// reaching vocab_size (the message says how many tokens it allows). CPU
// bound: roughly linear in the text size plus the merges' work; never
// blocks on I/O.
absl::StatusOr<Tokenizer> TrainBpe(const std::vector<std::string>& docs,
                                   int vocab_size);

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_BPE_TRAINER_H_
