// ps_prepare: turns a text file or a directory of text files into llm.c
// token shards (train.bin, val.bin) and a tokenizer file (tokenizer.bin),
// or, with --target, a CSV file into tabular files (train.tab, val.tab,
// stats.json; worker/data/tabular.h). Bad flags or data exit 2 with one line.
// Thread-safety: a single-threaded command-line program.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "worker/data/prepare.h"
#include "worker/data/tabular_prepare.h"

ABSL_FLAG(std::string, input, "",
          "Required. A text file, or a directory searched recursively (sorted "
          "paths; names starting with '.', symbolic links and files with NUL "
          "bytes are skipped). A file NAME with a sibling NAME.dat is a "
          "fortune file: its lines holding just '%' separate documents.");
ABSL_FLAG(std::string, out_dir, "",
          "Required. Directory (created if missing) that receives train.bin, "
          "val.bin and tokenizer.bin.");
ABSL_FLAG(double, val_fraction, -1,
          "Fraction in [0, 1) that goes to validation: of the token stream, "
          "taken from its end (default 0.1), or with --target of the CSV "
          "rows, a seeded random choice (default 0.2). Negative: the "
          "default.");
ABSL_FLAG(std::string, target, "",
          "CSV mode: the --input CSV's column to predict. Every cell must be "
          "numeric; the other columns are the features.");
ABSL_FLAG(std::string, task, "",
          "CSV mode: classification or regression; empty infers it (integer "
          "targets with at most 20 distinct values are classes).");
ABSL_FLAG(std::string, normalize, "standard",
          "CSV mode: standard ((x - mean) / std), minmax ((x - min) / "
          "(max - min)) or none; statistics of the training rows only, also "
          "applied to a regression target.");
ABSL_FLAG(int32_t, bpe_vocab, 0,
          "0 (default) for the byte-level tokenizer (256 tokens, eot = byte "
          "0); N in 257..65536 trains a byte-level BPE with N tokens on the "
          "whole text.");
ABSL_FLAG(uint64_t, seed, 0,
          "Seed of the deterministic document shuffle (CSV: of the split).");
ABSL_FLAG(bool, shuffle_docs, true,
          "Shuffle documents (files, or fortunes) before concatenating, so "
          "val.bin samples all of them; false keeps sorted file order.");

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "ps_prepare: %s\n", std::string(s.message()).c_str());
  return absl::IsInvalidArgument(s) || absl::IsNotFound(s) ? 2 : 1;
}

int RunTabular() {
  pserve::TabularPrepareOptions o;
  o.input = absl::GetFlag(FLAGS_input);
  o.target = absl::GetFlag(FLAGS_target);
  o.out_dir = absl::GetFlag(FLAGS_out_dir);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.val_fraction = absl::GetFlag(FLAGS_val_fraction);
  if (o.val_fraction < 0) o.val_fraction = 0.2;
  const std::string task = absl::GetFlag(FLAGS_task);
  const std::string norm = absl::GetFlag(FLAGS_normalize);
  if (task == "classification") {
    o.task = pserve::TabularTask::kClassification;
  } else if (task == "regression") {
    o.task = pserve::TabularTask::kRegression;
  } else if (!task.empty()) {
    return Fail(absl::InvalidArgumentError(
        "--task=" + task + ": use classification, regression or leave empty"));
  }
  if (norm == "standard") {
    o.normalize = pserve::Normalization::kStandard;
  } else if (norm == "minmax") {
    o.normalize = pserve::Normalization::kMinMax;
  } else if (norm == "none") {
    o.normalize = pserve::Normalization::kNone;
  } else {
    return Fail(absl::InvalidArgumentError("--normalize=" + norm +
                                           ": use standard, minmax or none"));
  }
  absl::StatusOr<pserve::TabularPrepareResult> r = pserve::PrepareTabular(o);
  if (!r.ok()) return Fail(r.status());
  std::printf("%s\n", pserve::TabularPrepareSummary(*r).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Prepares a text corpus for training.\n"
      "Usage: ps_prepare --input=PATH --out_dir=DIR [--val_fraction=0.1] "
      "[--bpe_vocab=N] [--seed=S] [--shuffle_docs=false]\n"
      "   or: ps_prepare --input=FILE.csv --target=COLUMN --out_dir=DIR "
      "[--task=classification|regression] [--normalize=standard|minmax|none] "
      "[--val_fraction=0.2] [--seed=S]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr,
                 "ps_prepare: unexpected argument '%s': every option is a "
                 "flag, e.g. --input=%s\n",
                 rest[1], rest[1]);
    return 2;
  }
  if (!absl::GetFlag(FLAGS_target).empty()) return RunTabular();
  pserve::PrepareOptions options;
  options.input = absl::GetFlag(FLAGS_input);
  options.out_dir = absl::GetFlag(FLAGS_out_dir);
  options.val_fraction = absl::GetFlag(FLAGS_val_fraction);
  if (options.val_fraction < 0) options.val_fraction = 0.1;
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
  if (!result.ok()) return Fail(result.status());
  std::printf("%s\n", pserve::PrepareSummary(*result).c_str());
  return 0;
}
