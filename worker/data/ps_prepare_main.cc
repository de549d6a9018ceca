// ps_prepare: turns a text file or a directory of text files into llm.c
// token shards (train.bin, val.bin) and a tokenizer file (tokenizer.bin).
// Thread-safety: a single-threaded command-line program.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "worker/data/prepare.h"

ABSL_FLAG(std::string, input, "",
          "Required. A text file, or a directory searched recursively (sorted "
          "paths; names starting with '.', symbolic links and files with NUL "
          "bytes are skipped). A file NAME with a sibling NAME.dat is a "
          "fortune file: its lines holding just '%' separate documents.");
ABSL_FLAG(std::string, out_dir, "",
          "Required. Directory (created if missing) that receives train.bin, "
          "val.bin and tokenizer.bin.");
ABSL_FLAG(double, val_fraction, 0.1,
          "Fraction in [0, 1) of the token stream, taken from its end, that "
          "goes to val.bin.");
ABSL_FLAG(int32_t, bpe_vocab, 0,
          "0 (default) for the byte-level tokenizer (256 tokens, eot = byte "
          "0); N in 257..65536 trains a byte-level BPE with N tokens on the "
          "whole text.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the deterministic document shuffle.");
ABSL_FLAG(bool, shuffle_docs, true,
          "Shuffle documents (files, or fortunes) before concatenating, so "
          "val.bin samples all of them; false keeps sorted file order.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Prepares a text corpus for training.\n"
      "Usage: ps_prepare --input=PATH --out_dir=DIR [--val_fraction=0.1] "
      "[--bpe_vocab=N] [--seed=S] [--shuffle_docs=false]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr,
                 "ps_prepare: unexpected argument '%s': every option is a "
                 "flag, e.g. --input=%s\n",
                 rest[1], rest[1]);
    return 2;
  }
  pserve::PrepareOptions options;
  options.input = absl::GetFlag(FLAGS_input);
  options.out_dir = absl::GetFlag(FLAGS_out_dir);
  options.val_fraction = absl::GetFlag(FLAGS_val_fraction);
  options.bpe_vocab = absl::GetFlag(FLAGS_bpe_vocab);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.shuffle_docs = absl::GetFlag(FLAGS_shuffle_docs);
  if (options.input.empty() || options.out_dir.empty()) {
    std::fprintf(stderr,
                 "ps_prepare: --input and --out_dir are required, e.g. "
                 "ps_prepare --input=/usr/share/games/fortunes "
                 "--out_dir=data/fortunes\n");
    return 2;
  }
  absl::StatusOr<pserve::PrepareResult> result =
      pserve::PrepareDataset(options);
  if (!result.ok()) {
    std::fprintf(stderr, "ps_prepare: %s\n",
                 std::string(result.status().message()).c_str());
    return absl::IsInvalidArgument(result.status()) ||
                   absl::IsNotFound(result.status())
               ? 2
               : 1;
  }
  std::printf("%s\n", pserve::PrepareSummary(*result).c_str());
  return 0;
}
