// See mlp_test_util.h. Not thread-safe.
#include "tests/mlp_test_util.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "tests/worker_test_util.h"

namespace pserve {

std::string TestCsv(const std::string& name) {
  return RunfilePath("tests/data/" + name);
}

std::string PrepareCsv(const std::string& csv, const std::string& dir,
                       const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {RunfilePath("worker/data/ps_prepare"),
                                   "--input=" + TestCsv(csv), "--target=target",
                                   "--out_dir=" + dir};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ProcessResult r = RunProcess(argv, 60);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return dir;
}

MlpJob RunMlpJob(const std::string& name, const std::string& data, int servers,
                 int workers, const std::vector<std::string>& server_flags,
                 const std::vector<std::string>& worker_flags) {
  std::vector<std::string> sflags = {"--mode=sync",
                                     absl::StrCat("--num_workers=", workers)};
  sflags.insert(sflags.end(), server_flags.begin(), server_flags.end());
  auto cluster = LocalCluster::Start(servers, sflags);
  REQUIRE(cluster.ok());
  MlpJob job;
  job.export_path = absl::StrCat(TestTempDir(), "/", name, ".safetensors");
  std::vector<std::vector<std::string>> argvs;
  for (int r = 0; r < workers; ++r) {
    std::vector<std::string> f = {"--servers=" + cluster->AddressList(),
                                  absl::StrCat("--rank=", r),
                                  absl::StrCat("--num_workers=", workers),
                                  "--model=mlp",
                                  "--data=" + data + "/train.tab",
                                  "--val_data=" + data + "/val.tab"};
    if (r == 0) f.push_back("--export=" + job.export_path);
    f.insert(f.end(), worker_flags.begin(), worker_flags.end());
    argvs.push_back(WorkerArgv(f));
  }
  job.workers = RunConcurrently(argvs, 120);
  for (const ProcessResult& w : job.workers) {
    INFO(name << ": " << w.output);
    REQUIRE(w.exit_code == 0);
  }
  job.result = ParseResult(job.workers[0].output);
  return job;
}

std::vector<float> SafetensorsFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(bytes.size() >= 8);
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  REQUIRE(8 + header <= bytes.size());
  std::vector<float> v((bytes.size() - 8 - header) / 4);
  std::memcpy(v.data(), bytes.data() + 8 + header, v.size() * 4);
  return v;
}

}  // namespace pserve
