// End-to-end tests of dataset preparation: the library function on a small
// tree (text, fortune file, its .dat index, a link, a binary file) and the
// ps_prepare binary itself. Thread-safety: single-threaded test.
#include "worker/data/prepare.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "worker/data/text_corpus.h"
#include "worker/data/token_shard.h"
#include "worker/data/tokenizer.h"

namespace pserve {
namespace {

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  ::mkdir(path.c_str(), 0755);
  return path;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// input/ with: a.txt, sub/quotes (fortunes) + sub/quotes.dat (binary) +
// sub/quotes.u8 -> quotes, .hidden, z.bin (binary).
std::string MakeTree(const std::string& root) {
  const std::string in = TempDir(root);
  TempDir(root + "/sub");
  WriteFile(in + "/a.txt", "First document.\n");
  WriteFile(in + "/sub/quotes", "To be.\n%\nOr not\nto be.\n%\n%\nThat.\n%\n");
  WriteFile(in + "/sub/quotes.dat", std::string("\0\0\0\2index", 9));
  ::symlink("quotes", (in + "/sub/quotes.u8").c_str());
  WriteFile(in + "/.hidden", "secret\n");
  WriteFile(in + "/z.bin", std::string("bin\0ary", 7));
  return in;
}

TEST_CASE("fortune splitting", "[prepare]") {
  CHECK(SplitFortunes("a\n%\nb\nc\n%\n") ==
        std::vector<std::string>{"a\n", "b\nc\n"});
  CHECK(SplitFortunes("%\r\nx\r\n%\r\n%\ny") ==
        std::vector<std::string>{"x\r\n", "y"});
  CHECK(SplitFortunes("100%\n50 %\n") ==
        std::vector<std::string>{"100%\n50 %\n"});
}

TEST_CASE("corpus reading follows the file rules", "[prepare]") {
  const std::string in = MakeTree("corpus_tree");
  auto c = ReadTextCorpus(in);
  REQUIRE(c.ok());
  CHECK(c->documents == std::vector<std::string>{"First document.\n",
                                                 "To be.\n", "Or not\nto be.\n",
                                                 "That.\n"});
  CHECK(c->files_read == 2);
  CHECK(c->fortune_files == 1);
  CHECK(c->binary_skipped == 2);
  CHECK(c->links_skipped == 1);
  CHECK(ReadTextCorpus(in + "/nope").status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(ReadTextCorpus(in + "/z.bin").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("PrepareDataset writes shards and tokenizer", "[prepare]") {
  const std::string in = MakeTree("prepare_tree");
  PrepareOptions o;
  o.input = in;
  o.out_dir = TempDir("prepare_out") + "/nested";
  o.val_fraction = 0.25;
  o.shuffle_docs = false;
  auto r = PrepareDataset(o);
  REQUIRE(r.ok());
  CHECK(r->vocab_size == 256);
  CHECK(r->documents == 4);
  const std::string stream =
      std::string("\0First document.\n", 17) + std::string("\0To be.\n", 8) +
      std::string("\0Or not\nto be.\n", 15) + std::string("\0That.\n", 7);
  CHECK(r->train_tokens + r->val_tokens == static_cast<int64_t>(stream.size()));
  CHECK(r->val_tokens == static_cast<int64_t>(stream.size() / 4));
  auto tok = Tokenizer::Load(o.out_dir + "/tokenizer.bin");
  REQUIRE(tok.ok());
  auto train = ReadTokenShard(o.out_dir + "/train.bin", 256);
  auto val = ReadTokenShard(o.out_dir + "/val.bin", 256);
  REQUIRE(train.ok());
  REQUIRE(val.ok());
  std::vector<int32_t> all(train->begin(), train->end());
  all.insert(all.end(), val->begin(), val->end());
  CHECK(tok->Decode(all) == stream);
  CHECK(PrepareSummary(*r).find("train " + std::to_string(r->train_tokens)) !=
        std::string::npos);

  SECTION("deterministic, with shuffling and BPE") {
    o.shuffle_docs = true;
    o.seed = 3;
    o.bpe_vocab = 260;
    auto r1 = PrepareDataset(o);
    REQUIRE(r1.ok());
    const std::string t1 = ReadFile(o.out_dir + "/train.bin");
    const std::string k1 = ReadFile(o.out_dir + "/tokenizer.bin");
    auto r2 = PrepareDataset(o);
    REQUIRE(r2.ok());
    CHECK(ReadFile(o.out_dir + "/train.bin") == t1);
    CHECK(ReadFile(o.out_dir + "/tokenizer.bin") == k1);
    CHECK(r2->vocab_size == 260);
    CHECK(ReadTokenShard(o.out_dir + "/train.bin", 260).ok());
  }
  SECTION("bad options") {
    o.val_fraction = 1.0;
    CHECK(PrepareDataset(o).status().code() ==
          absl::StatusCode::kInvalidArgument);
    o.val_fraction = 0.1;
    o.bpe_vocab = 100;
    CHECK(PrepareDataset(o).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

struct Run {
  int code;
  std::string out, err;
};

Run RunPrepare(const std::string& args) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  REQUIRE(srcdir != nullptr);
  const std::string tmp = TempDir("run");
  const std::string cmd = std::string(srcdir) +
                          "/pserve/worker/data/ps_prepare " + args + " >" +
                          tmp + "/out 2>" + tmp + "/err";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), ReadFile(tmp + "/out"), ReadFile(tmp + "/err")};
}

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST_CASE("ps_prepare binary end to end", "[prepare]") {
  const std::string in = MakeTree("binary_tree");
  const std::string out = TempDir("binary_out");
  Run ok = RunPrepare("--input=" + in + " --out_dir=" + out +
                      " --bpe_vocab=258 --val_fraction=0.2");
  INFO(ok.err);
  CHECK(ok.code == 0);
  CHECK(Lines(ok.out) == 1);
  CHECK(ok.out.find("vocab 258") != std::string::npos);
  CHECK(Tokenizer::Load(out + "/tokenizer.bin").ok());

  Run missing = RunPrepare("--input=" + in + "/absent --out_dir=" + out);
  CHECK(missing.code != 0);
  CHECK(Lines(missing.err) == 1);
  CHECK(missing.err.find("absent does not exist") != std::string::npos);

  Run no_input = RunPrepare("--out_dir=" + out);
  CHECK(no_input.code != 0);
  CHECK(Lines(no_input.err) == 1);
  CHECK(no_input.err.find("--input") != std::string::npos);

  Run bad_vocab =
      RunPrepare("--input=" + in + " --out_dir=" + out + " --bpe_vocab=12");
  CHECK(bad_vocab.code != 0);
  CHECK(Lines(bad_vocab.err) == 1);
  CHECK(bad_vocab.err.find("bpe_vocab 12") != std::string::npos);
}

}  // namespace
}  // namespace pserve
