// A server with mutual TLS and a bearer token, against real processes on
// loopback: plaintext clients, TLS clients without (or with a foreign)
// client certificate and clients with a wrong or no token are refused on
// every method; refusals are counted on /metrics; the health service stays
// open; a 2-worker training run over mTLS with the token finishes; a Python
// grpcio client built from proto/ps.proto sees the same refusals; bad
// certificate, key and token files stop ps_server, ps_worker and ps_bench at
// start; ps_bench's own servers and clients use the same flags.
#include "common/security.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <map>

#include "absl/strings/str_join.h"
#include "cluster/local_cluster.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "proto/ps.grpc.pb.h"
#include "tests/worker_test_util.h"

namespace pserve {
namespace {

// Makes the throwaway PKI once per test process.
const std::string& Pki() {
  static const std::string dir = [] {
    const std::string d = TestTempDir() + "/pki";
    REQUIRE(RunProcess({"/bin/mkdir", "-p", d}).exit_code == 0);
    ProcessResult r = RunProcess(
        {"/bin/bash", RunfilePath("common/make_test_certs.sh"), d}, 60);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return d;
  }();
  return dir;
}

std::string P(const std::string& name) { return Pki() + "/" + name; }

std::vector<std::string> SecureServerFlags() {
  return {"--tls_cert=" + P("server.crt"), "--tls_key=" + P("server.key"),
          "--tls_client_ca=" + P("ca.crt"), "--auth_token_file=" + P("token")};
}

ClientSecurity Security(const std::string& cert, const std::string& token) {
  ClientSecurityFiles f;
  f.tls_ca = P("ca.crt");
  if (!cert.empty()) {
    f.tls_cert = P(cert + ".crt");
    f.tls_key = P(cert + ".key");
  }
  if (!token.empty()) f.auth_token_file = P(token);
  absl::StatusOr<ClientSecurity> s = LoadClientSecurity(f);
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  return *s;
}

// The code each ParameterServer method returns on this channel.
std::map<std::string, grpc::StatusCode> CallEveryMethod(
    const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = ParameterServer::NewStub(channel);
  Caller caller;
  caller.set_role(Caller::WORKER);
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return c;
  };
  std::map<std::string, grpc::StatusCode> codes;
  InitRequest init;
  *init.mutable_caller() = caller;
  InitResponse init_r;
  codes["Init"] = stub->Init(ctx().get(), init, &init_r).error_code();
  PullRequest pull;
  *pull.mutable_caller() = caller;
  PullResponse pull_r;
  codes["Pull"] = stub->Pull(ctx().get(), pull, &pull_r).error_code();
  PushRequest push;
  *push.mutable_caller() = caller;
  PushResponse push_r;
  codes["Push"] = stub->Push(ctx().get(), push, &push_r).error_code();
  CheckpointRequest ck;
  *ck.mutable_caller() = caller;
  CheckpointResponse ck_r;
  codes["Checkpoint"] = stub->Checkpoint(ctx().get(), ck, &ck_r).error_code();
  StatsRequest st;
  *st.mutable_caller() = caller;
  StatsResponse st_r;
  codes["GetStats"] = stub->GetStats(ctx().get(), st, &st_r).error_code();
  return codes;
}

// The value of the first sample of `name` in Prometheus text, or -1.
double SampleValue(const std::string& text, const std::string& name) {
  for (const std::string& line : Lines(text))
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                       const ClientSecurity& security) {
  return grpc::CreateChannel(address, MakeChannelCredentials(security));
}

TEST_CASE("mTLS + token: wrong clients are refused on every method") {
  auto cluster = LocalCluster::Start(1, [] {
    auto f = SecureServerFlags();
    f.push_back("--num_workers=1");
    return f;
  }());
  REQUIRE(cluster.ok());
  const std::string address = cluster->addresses()[0];
  struct Case {
    const char* name;
    ClientSecurity security;
    grpc::StatusCode want;
  };
  const std::vector<Case> cases = {
      {"plaintext", ClientSecurity(), grpc::UNAVAILABLE},
      {"TLS, no client certificate", Security("", "token"), grpc::UNAVAILABLE},
      {"client certificate from another CA", Security("rogue-client", "token"),
       grpc::UNAVAILABLE},
      {"mTLS, wrong token", Security("client", "wrong-token"),
       grpc::UNAUTHENTICATED},
      {"mTLS, no token", Security("client", ""), grpc::UNAUTHENTICATED},
  };
  for (const Case& c : cases) {
    for (const auto& [method, code] :
         CallEveryMethod(Channel(address, c.security))) {
      INFO(c.name << ": " << method);
      CHECK(code == c.want);
    }
  }
  // The right client gets through (GetStats needs no model).
  auto good = CallEveryMethod(Channel(address, Security("client", "token")));
  CHECK(good["GetStats"] == grpc::OK);
  CHECK(good["Init"] == grpc::INVALID_ARGUMENT);  // an empty declaration
  // Health stays open to a TLS client without a token.
  auto health = Channel(address, Security("client", ""));
  grpc::GenericStub generic(health);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice nothing(std::string{});  // HealthCheckRequest{}: no bytes
  grpc::ByteBuffer empty(&nothing, 1), reply;
  std::promise<grpc::Status> done;  // set on a gRPC thread, read here
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &empty, &reply,
                    [&done](grpc::Status st) { done.set_value(st); });
  grpc::Status hs = done.get_future().get();
  INFO(hs.error_message());
  CHECK(hs.ok());
}

TEST_CASE("a Python grpcio client sees the same refusals") {
  auto cluster = LocalCluster::Start(1, [] {
    auto f = SecureServerFlags();
    f.push_back("--num_workers=1");
    return f;
  }());
  REQUIRE(cluster.ok());
  ProcessResult r =
      RunProcess({"/usr/bin/python3", RunfilePath("tests/py_refusals.py"),
                  "--address=" + cluster->addresses()[0],
                  "--proto=" + RunfilePath("proto/ps.proto"), "--pki=" + Pki()},
                 120);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Lines(r.output).back() == "28 passed, 0 failed");
}

TEST_CASE("2 workers train over mTLS with a token; refusals are counted") {
  const std::string dir = TestTempDir() + "/secure-run";
  const std::string data = PrepareCorpus(dir);
  auto cluster = LocalCluster::Start(2, [] {
    auto f = SecureServerFlags();
    f.push_back("--num_workers=2");
    f.push_back("--metrics_port=0");
    return f;
  }());
  REQUIRE(cluster.ok());
  // A client with a wrong token first: refused and counted (a scrape
  // refreshes the counters, so it sees every refusal made before it).
  for (const auto& [method, code] : CallEveryMethod(Channel(
           cluster->addresses()[0], Security("client", "wrong-token")))) {
    INFO(method);
    CHECK(code == grpc::UNAUTHENTICATED);
  }
  std::vector<std::vector<std::string>> workers;
  for (int rank = 0; rank < 2; ++rank)
    workers.push_back(WorkerArgv(
        {"--servers=" + cluster->AddressList(),
         "--rank=" + std::to_string(rank), "--num_workers=2",
         "--data=" + data + "/train.bin", "--model=tiny", "--batch_size=2",
         "--steps=6", "--eval_every=0", "--log_every=1",
         "--tls_ca=" + P("ca.crt"), "--tls_cert=" + P("client.crt"),
         "--tls_key=" + P("client.key"), "--auth_token_file=" + P("token")}));
  std::vector<ProcessResult> runs = RunConcurrently(workers, 180);
  for (const ProcessResult& r : runs) {
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(Lines(r.output).back().rfind("RESULT step=6 ", 0) == 0);
  }
  // The token never reaches a log.
  std::ifstream tf(P("token"));
  std::string token;
  tf >> token;
  for (const ProcessResult& r : runs)
    CHECK(r.output.find(token) == std::string::npos);
  ProcessResult port = RunProcess(
      {"/bin/sh", "-c", "cat " + TestTempDir() + "/*-s0.port.metrics"});
  ProcessResult metrics =
      RunProcess({"/usr/bin/curl", "-s", "--max-time", "5",
                  "http://127.0.0.1:" + Lines(port.output).at(0) + "/metrics"},
                 10);
  INFO(metrics.output);
  CHECK(SampleValue(metrics.output, "pserve_unauthenticated_requests_total") >=
        5);
}

// ps_bench's soak over mTLS with the token: its own servers get the server
// flags, its clients the client flags. Judged on its RESULT line's error
// count (a 4 s run is too short for the RSS verdict, which sanitizers skew).
TEST_CASE("ps_bench reaches servers over mTLS with a token") {
  auto bench = [](const std::string& token) {
    return std::vector<std::string>{
        RunfilePath("tools/ps_bench"),
        "--suite=soak",
        "--seconds=4",
        "--clients=2",
        "--server_binary=" + RunfilePath("server/ps_server"),
        "--server_flags=" + absl::StrJoin(SecureServerFlags(), ","),
        "--tls_ca=" + P("ca.crt"),
        "--tls_cert=" + P("client.crt"),
        "--tls_key=" + P("client.key"),
        "--auth_token_file=" + P(token)};
  };
  ProcessResult good = RunProcess(bench("token"), 120);
  INFO(good.output);
  CHECK(good.output.find(" errors=0 ") != std::string::npos);
  CHECK(good.output.find("RESULT soak_seconds=") != std::string::npos);
  ProcessResult wrong = RunProcess(bench("wrong-token"), 120);
  INFO(wrong.output);
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.output.find("UNAUTHENTICATED") != std::string::npos);
  // Client TLS against plaintext servers is a flag error, not a hang.
  std::vector<std::string> plain = bench("token");
  plain.erase(plain.begin() + 5);  // --server_flags
  ProcessResult mismatch = RunProcess(plain, 30);
  INFO(mismatch.output);
  CHECK(mismatch.exit_code == 2);
  CHECK(Lines(mismatch.output).size() == 1);
}

TEST_CASE("bad certificate, key and token files stop a program at start") {
  const std::string loose = P("loose-token");
  REQUIRE(RunProcess({"/bin/cp", P("token"), loose}).exit_code == 0);
  REQUIRE(::chmod(loose.c_str(), 0644) == 0);
  const std::string server = RunfilePath("server/ps_server");
  struct Case {
    std::vector<std::string> flags;
    const char* words;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert=" + P("server.crt"), "--tls_key=" + P("client.key")},
       "is not the private key"},
      {{"--tls_cert=" + P("missing.crt"), "--tls_key=" + P("server.key")},
       "cannot read"},
      {{"--tls_cert=" + P("server.crt"), "--tls_key=" + P("server.key"),
        "--auth_token_file=" + loose},
       "other users can read it"},
      {{"--tls_cert=" + P("server.crt")}, "go together"},
      {{"--auth_token_file=" + P("token")}, "needs --tls_cert"},
      {{"--tls_cert=" + P("server.crt"), "--tls_key=" + P("server.key"),
        "--tls_client_ca=" + P("token")},
       "no PEM block"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server, "--port=0"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    ProcessResult r = RunProcess(argv, 30);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(Lines(r.output).size() == 1);
    CHECK(r.output.find(c.words) != std::string::npos);
  }
  ProcessResult w = RunProcess(
      WorkerArgv({"--servers=127.0.0.1:1", "--data=/nonexistent",
                  "--tls_ca=" + P("ca.crt"), "--tls_cert=" + P("client.crt"),
                  "--tls_key=" + P("server.key")}),
      30);
  INFO(w.output);
  CHECK(w.exit_code == 2);
  CHECK(w.output.find("--tls_key is not the private key") != std::string::npos);
  ProcessResult b =
      RunProcess({RunfilePath("tools/ps_bench"), "--suite=soak",
                  "--server_binary=" + RunfilePath("server/ps_server"),
                  "--tls_ca=" + P("ca.crt"), "--tls_cert=" + P("client.crt"),
                  "--tls_key=" + P("server.key")},
                 30);
  INFO(b.output);
  CHECK(b.exit_code == 2);
  CHECK(Lines(b.output).size() == 1);
  CHECK(b.output.find("--tls_key is not the private key") != std::string::npos);
}

}  // namespace
}  // namespace pserve
