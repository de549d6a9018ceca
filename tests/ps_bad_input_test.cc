// Malformed requests against a real ps_server: each gets the documented
// status code and an actionable message, and none changes the server's
// state (parameters, versions, update counts). Also bad flags at startup,
// pull deadlines, and the live /metrics endpoint.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <future>
#include <limits>
#include <sstream>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "proto/ps.grpc.pb.h"
#include "tests/ps_test_util.h"

namespace pserve {
namespace {

class RawServer {
 public:
  explicit RawServer(const std::string& address)
      : stub_(ParameterServer::NewStub(grpc::CreateChannel(
            address, grpc::InsecureChannelCredentials()))) {}

  grpc::Status Push(const PushRequest& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    PushResponse resp;
    return stub_->Push(&ctx, req, &resp);
  }
  grpc::Status Checkpoint(const std::string& name, CheckpointResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    CheckpointRequest req;
    req.mutable_caller()->set_role(Caller::ADMIN);
    req.set_name(name);
    return stub_->Checkpoint(&ctx, req, resp);
  }
  grpc::Status Pull(const PullRequest& req, PullResponse* resp,
                    int timeout_ms) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(timeout_ms));
    return stub_->Pull(&ctx, req, resp);
  }
  StatsResponse Stats() {
    grpc::ClientContext ctx;
    StatsRequest req;
    StatsResponse resp;
    REQUIRE(stub_->GetStats(&ctx, req, &resp).ok());
    return resp;
  }

 private:
  std::unique_ptr<ParameterServer::Stub> stub_;
};

PushRequest GoodPush(const ModelLayout& layout, int rank, int64_t step) {
  PushRequest req;
  req.mutable_caller()->set_role(Caller::WORKER);
  req.mutable_caller()->set_rank(rank);
  req.set_step(step);
  req.set_example_count(8);
  req.set_loss(2.5);
  ChunkData* d = req.add_chunks();
  d->set_key(layout.chunks()[0].key);
  std::vector<float> g(layout.chunks()[0].numel, 0.25f);
  d->set_data(std::string(reinterpret_cast<char*>(g.data()), g.size() * 4));
  return req;
}

void ExpectRejected(RawServer& server, const PushRequest& req,
                    grpc::StatusCode code, const std::string& words) {
  grpc::Status s = server.Push(req);
  INFO(s.error_message());
  REQUIRE(s.error_code() == code);
  REQUIRE(s.error_message().find(words) != std::string::npos);
}

TEST_CASE("malformed pushes are refused and change nothing") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=2", "--optimizer=sgd"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(2, MODE_SYNC);
  auto client = MakeClient(*cluster, 0, model);
  const ModelLayout& layout = client->layout();
  std::vector<float> before(layout.total_params()), after(before.size());
  REQUIRE(client->Pull(before.data(), 0, 0).ok());
  RawServer raw(cluster->addresses()[0]);
  const StatsResponse stats_before = raw.Stats();

  PushRequest r = GoodPush(layout, 0, 0);
  r.mutable_chunks(0)->set_key(ChunkKey(77, 0));
  ExpectRejected(raw, r, grpc::NOT_FOUND, "unknown key");
  r = GoodPush(layout, 0, 0);
  r.mutable_chunks(0)->mutable_data()->append("abc");
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "bytes");
  r = GoodPush(layout, 0, 0);
  r.set_dtype(static_cast<DType>(9));
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "dtype");
  r = GoodPush(layout, 0, 0);
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(r.mutable_chunks(0)->mutable_data()->data() + 8, &nan, 4);
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "NaN");
  ExpectRejected(raw, GoodPush(layout, 0, 5), grpc::OUT_OF_RANGE, "future");
  ExpectRejected(raw, GoodPush(layout, 0, -1), grpc::OUT_OF_RANGE, "negative");
  ExpectRejected(raw, GoodPush(layout, 2, 0), grpc::INVALID_ARGUMENT, "rank 2");
  ExpectRejected(raw, GoodPush(layout, -1, 0), grpc::INVALID_ARGUMENT,
                 "rank -1");
  r = GoodPush(layout, 0, 0);
  r.mutable_caller()->set_role(Caller::ADMIN);
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "only workers");
  r = GoodPush(layout, 0, 0);
  *r.add_chunks() = r.chunks(0);
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "twice");
  // A good first chunk followed by a bad one: nothing may be applied.
  r = GoodPush(layout, 0, 0);
  r.clear_example_count();
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "example_count");
  r = GoodPush(layout, 0, 0);
  r.set_example_count(-3);
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "example_count is -3");
  r = GoodPush(layout, 0, 0);
  r.set_loss(std::numeric_limits<double>::infinity());
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "loss");
  r = GoodPush(layout, 0, 0);
  ChunkData* bad = r.add_chunks();
  bad->set_key(layout.chunks()[1].key);
  bad->set_data("xyz");
  ExpectRejected(raw, r, grpc::INVALID_ARGUMENT, "bytes");

  REQUIRE(client->Pull(after.data(), 0, 0).ok());
  REQUIRE(before == after);
  const StatsResponse stats_after = raw.Stats();
  REQUIRE(stats_after.updates_applied() == stats_before.updates_applied());
  REQUIRE(stats_after.min_version() == 0);
  REQUIRE(stats_after.pushes() == stats_before.pushes());
  REQUIRE(stats_after.rejected_requests() ==
          stats_before.rejected_requests() + 14);
  // Step 0 is still open for both workers: the good push is accepted.
  REQUIRE(raw.Push(GoodPush(layout, 0, 0)).ok());
}

TEST_CASE("pulls: unknown key, before Init, and deadlines") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  RawServer raw(cluster->addresses()[0]);
  PullRequest req;
  req.mutable_caller()->set_role(Caller::WORKER);
  req.add_keys(0);
  PullResponse resp;
  grpc::Status s = raw.Pull(req, &resp, 5000);
  REQUIRE(s.error_code() == grpc::FAILED_PRECONDITION);
  REQUIRE(s.error_message().find("Init") != std::string::npos);
  InitRequest model = SmallModel(1, MODE_SYNC);
  auto client = MakeClient(*cluster, 0, model);
  req.set_min_version(3);  // no worker will push: must time out
  auto start = std::chrono::steady_clock::now();
  s = raw.Pull(req, &resp, 300);
  REQUIRE(s.error_code() == grpc::DEADLINE_EXCEEDED);
  REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  req.set_min_version(0);
  req.set_keys(0, ChunkKey(55, 1));
  s = raw.Pull(req, &resp, 5000);
  REQUIRE(s.error_code() == grpc::NOT_FOUND);
  // Init with a mode the server does not run.
  auto other = ConnectClient(*cluster, 0);
  absl::Status init = other->Init(SmallModel(1, MODE_ASYNC));
  REQUIRE(absl::IsInvalidArgument(init));
  REQUIRE(init.message().find("--mode=sync") != std::string::npos);
}

TEST_CASE("Checkpoint writes only inside --checkpoint_dir, by short name") {
  const std::string root = TestTempDir() + "/ckroot";
  const std::string dir = root + "/inside";
  REQUIRE(RunProcess({"/bin/mkdir", "-p", dir}).exit_code == 0);
  auto cluster =
      LocalCluster::Start(1, {"--num_workers=1", "--checkpoint_dir=" + dir});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  RawServer raw(cluster->addresses()[0]);
  CheckpointResponse resp;
  for (const std::string& bad : std::vector<std::string>{
           "../escape", "/tmp/escape", "a/b", "..", std::string(65, 'x')}) {
    grpc::Status s = raw.Checkpoint(bad, &resp);
    INFO(bad << ": " << s.error_message());
    CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  }
  CHECK_FALSE(std::ifstream(root + "/escape-0.ckpt").good());
  grpc::Status ok = raw.Checkpoint("step-7", &resp);
  INFO(ok.error_message());
  REQUIRE(ok.ok());
  CHECK(resp.path() == dir + "/step-7-0.ckpt");
  CHECK(std::ifstream(dir + "/step-7-0.ckpt").good());
  // A server with no --checkpoint_dir writes nowhere.
  auto bare = LocalCluster::Start(1, {"--num_workers=1"});
  REQUIRE(bare.ok());
  auto declared = MakeClient(*bare, 0, SmallModel(1, MODE_SYNC));
  RawServer none(bare->addresses()[0]);
  grpc::Status refused = none.Checkpoint("", &resp);
  CHECK(refused.error_code() == grpc::FAILED_PRECONDITION);
  CHECK(refused.error_message().find("--checkpoint_dir") != std::string::npos);
}

TEST_CASE("a pull naming a key twice or a negative clock is refused") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  RawServer raw(cluster->addresses()[0]);
  PullRequest req;
  req.mutable_caller()->set_role(Caller::WORKER);
  const uint64_t key = client->layout().chunks()[0].key;
  for (int i = 0; i < 1000; ++i) req.add_keys(key);
  PullResponse resp;
  grpc::Status s = raw.Pull(req, &resp, 5000);
  INFO(s.error_message());
  CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(s.error_message().find("twice") != std::string::npos);
  req.clear_keys();
  req.add_keys(key);
  req.set_clock(std::numeric_limits<int64_t>::min());
  CHECK(raw.Pull(req, &resp, 5000).error_code() == grpc::INVALID_ARGUMENT);
}

TEST_CASE("flags that make no sense exit non-zero with one line") {
  const std::string server = RunfilePath("server/ps_server");
  for (const auto& flags : std::vector<std::vector<std::string>>{
           {"--mode=foo"},
           {"--num_workers=0"},
           {"--staleness=2"},
           {"--optimizer=lion"},
           {"--server_id=3", "--num_servers=2"},
           {"--lr_schedule=cosine"},
           {"--nesterov"},
           {"positional"}}) {
    std::vector<std::string> argv = {server, "--port=0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ProcessResult r = RunProcess(argv, 20);
    INFO(flags[0] << " -> " << r.output);
    REQUIRE(r.exit_code != 0);
    REQUIRE(r.exit_code != -1);
    REQUIRE(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  }
}

std::string HttpGet(int port, const std::string& path) {
  ProcessResult r =
      RunProcess({"/usr/bin/curl", "-s",
                  "http://127.0.0.1:" + std::to_string(port) + path},
                 10);
  return r.output;
}

double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name, 0) == 0 &&
        (line[name.size()] == '{' || line[name.size()] == ' '))
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

TEST_CASE("the server's /metrics moves with traffic") {
  auto cluster = LocalCluster::Start(
      1, {"--num_workers=1", "--metrics_port=0", "--optimizer=sgd"});
  REQUIRE(cluster.ok());
  // This test's only cluster wrote its metrics port beside its port file.
  ProcessResult ls =
      RunProcess({"/bin/sh", "-c",
                  "cat " + TestTempDir() + "/*-s0.port.metrics | tail -1"});
  const int port = std::stoi(ls.output);
  InitRequest model = SmallModel(1, MODE_SYNC);
  auto client = MakeClient(*cluster, 0, model);
  std::vector<float> p(client->layout().total_params());
  const std::string first = HttpGet(port, "/metrics");
  REQUIRE(first.find("pserve_pushes_total") != std::string::npos);
  for (int t = 0; t < 3; ++t) {
    REQUIRE(client->Pull(p.data(), t, t).ok());
    REQUIRE(client->Push(KnownGrads(0, t, p.size()).data(), {t, 1}).ok());
  }
  std::string text;
  for (int i = 0; i < 50; ++i) {  // refreshed every 500 ms
    text = HttpGet(port, "/metrics");
    if (MetricValue(text, "pserve_pushes_total") >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(text);
  REQUIRE(MetricValue(text, "pserve_pushes_total") >= 3);
  REQUIRE(MetricValue(text, "pserve_pulls_total") >= 3);
  REQUIRE(MetricValue(text, "pserve_max_version") == 3);
  REQUIRE(MetricValue(text, "pserve_update_seconds_count") > 0);
  REQUIRE(text.find("role=\"server\"") != std::string::npos);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE("declarations too large for memory are refused, not fatal") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=1"});
  REQUIRE(cluster.ok());
  auto client = ConnectClient(*cluster, 0);
  InitRequest huge = SmallModel(1, MODE_SYNC);
  huge.mutable_tensors(0)->set_shape(0, int64_t{1} << 38);  // 1 TiB of floats
  huge.set_chunk_bytes(int64_t{1} << 30);
  absl::Status s = client->Init(huge);
  INFO(s.ToString());
  REQUIRE(absl::IsResourceExhausted(s));
  InitRequest overflow = SmallModel(1, MODE_SYNC);
  overflow.mutable_tensors(1)->set_shape(0, int64_t{1} << 40);
  overflow.mutable_tensors(1)->set_shape(1, int64_t{1} << 40);
  REQUIRE(absl::IsInvalidArgument(client->Init(overflow)));
  InitRequest tiny_chunks = SmallModel(1, MODE_SYNC);
  tiny_chunks.mutable_tensors(0)->set_shape(0, int64_t{1} << 30);
  tiny_chunks.set_chunk_bytes(4);
  REQUIRE(absl::IsInvalidArgument(client->Init(tiny_chunks)));
  // The server is still up and accepts a sane model.
  auto ok = MakeClient(*cluster, 0, SmallModel(1, MODE_SYNC));
  REQUIRE(ok->layout().total_params() > 0);
}

}  // namespace
}  // namespace pserve

namespace pserve {
namespace {

TEST_CASE("SIGTERM stops a server promptly even with a pull waiting") {
  auto cluster = LocalCluster::Start(1, {"--num_workers=2"});
  REQUIRE(cluster.ok());
  auto client = MakeClient(*cluster, 0, SmallModel(2, MODE_SYNC));
  std::vector<float> p(client->layout().total_params());
  // Worker 1 never pushes, so this pull would wait for its whole deadline.
  auto waiting = client->PullAsync(p.data(), 1, 1);
  REQUIRE(!client->WaitFor(waiting, absl::Milliseconds(300)));
  const auto start = std::chrono::steady_clock::now();
  std::vector<int> codes = cluster->Stop();
  REQUIRE(codes == std::vector<int>{0});
  REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  REQUIRE(client->WaitFor(waiting, absl::Seconds(30)));
  REQUIRE(!client->Wait(waiting).ok());
}

}  // namespace
}  // namespace pserve
