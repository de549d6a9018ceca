// Corpus, process and output helpers of the ps_worker tests. Processes are
// ended only by their own PIDs.
#include "tests/worker_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace pserve {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Sentence(std::mt19937* rng) {
  static const std::vector<std::vector<std::string>> kParts = {
      {"the cat", "a dog", "the old man", "my sister", "a small bird",
       "the teacher"},
      {"sees", "likes", "chases", "finds", "paints", "follows"},
      {"the ball", "a red car", "the moon", "my house", "a green tree",
       "the river"},
      {"today", "slowly", "at night", "in the park", "again", "with joy"}};
  std::string s;
  for (const auto& words : kParts) {
    if (!s.empty()) s += ' ';
    s += words[(*rng)() % words.size()];
  }
  return s + ".\n";
}

}  // namespace

std::string PrepareCorpus(const std::string& dir) {
  std::system(absl::StrCat("mkdir -p ", dir).c_str());
  const std::string text = dir + "/corpus.txt";
  {
    std::mt19937 rng(20240520);
    std::ofstream out(text);
    for (size_t n = 0; n < 200000;) {
      const std::string s = Sentence(&rng);
      out << s;
      n += s.size();
    }
  }
  const std::string data = dir + "/data";
  // //worker:ps_prepare is an alias: its runfile is the actual target's.
  ProcessResult r = RunProcess({RunfilePath("worker/data/ps_prepare"),
                                "--input=" + text, "--out_dir=" + data},
                               60);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return data;
}

std::vector<ProcessResult> RunConcurrently(
    const std::vector<std::vector<std::string>>& argvs, int timeout_s) {
  static int counter = 0;
  std::vector<Started> started;
  for (const auto& argv : argvs)
    started.push_back(StartProcess(
        argv, absl::StrCat(TestTempDir(), "/proc-", counter++, ".log")));
  std::vector<ProcessResult> results;
  for (const Started& p : started) results.push_back(WaitProcess(p, timeout_s));
  return results;
}

std::vector<std::string> WorkerArgv(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {RunfilePath("worker/ps_worker"),
                                   "--threads=1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

std::map<std::string, double> ParseResult(const std::string& output) {
  std::map<std::string, double> fields;
  for (const std::string& line : Lines(output)) {
    if (line.rfind("RESULT ", 0) != 0) continue;
    fields.clear();
    for (absl::string_view kv : absl::StrSplit(line.substr(7), ' ')) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
      double v = 0;
      if (absl::SimpleAtod(p.second, &v)) fields[p.first] = v;
    }
  }
  return fields;
}

std::vector<double> MetricsValues(const std::string& path,
                                  const std::string& kind,
                                  const std::string& key) {
  std::vector<double> values;
  const std::string kind_field = "\"kind\":\"" + kind + "\"";
  const std::string key_field = "\"" + key + "\":";
  for (const std::string& line : Lines(ReadAll(path))) {
    if (line.find(kind_field) == std::string::npos) continue;
    size_t at = line.find(key_field);
    if (at == std::string::npos) continue;
    values.push_back(
        std::strtod(line.c_str() + at + key_field.size(), nullptr));
  }
  return values;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (absl::string_view l : absl::StrSplit(text, '\n'))
    if (!l.empty()) lines.emplace_back(l);
  return lines;
}

}  // namespace pserve
