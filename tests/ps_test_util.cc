// Helpers for the multi-process parameter-server tests.
#include "tests/ps_test_util.h"

#include <catch2/catch.hpp>

namespace pserve {
namespace {

void AddTensor(InitRequest& r, const std::string& name,
               std::vector<int64_t> shape) {
  TensorSpec* t = r.add_tensors();
  t->set_name(name);
  for (int64_t d : shape) t->add_shape(d);
  t->mutable_init()->set_kind(InitRule::NORMAL);
  t->mutable_init()->set_std(0.5f);
}

}  // namespace

ClientOptions TestClientOptions(const LocalCluster& cluster, int rank) {
  ClientOptions o;
  o.servers = cluster.addresses();
  o.rank = rank;
  o.connect_timeout = absl::Seconds(30);
  o.pull_timeout = absl::Seconds(60);
  return o;
}

InitRequest SmallModel(int num_workers, ConsistencyMode mode) {
  InitRequest r;
  AddTensor(r, "a", {1000});
  AddTensor(r, "b", {37, 13});
  AddTensor(r, "c", {5});
  r.set_seed(42);
  r.set_chunk_bytes(1024);
  r.set_num_workers(num_workers);
  r.set_mode(mode);
  return r;
}

float KnownGrad(int w, int t, int64_t i) {
  return 0.125f * static_cast<float>(((i * 7 + w * 3 + t * 5) % 17) - 8);
}

std::vector<float> KnownGrads(int w, int t, int64_t n) {
  std::vector<float> g(n);
  for (int64_t i = 0; i < n; ++i) g[i] = KnownGrad(w, t, i);
  return g;
}

absl::StatusOr<std::unique_ptr<PsClient>> TryMakeClient(
    const LocalCluster& cluster, int rank, const InitRequest& model) {
  auto client = PsClient::Connect(TestClientOptions(cluster, rank));
  if (!client.ok()) return client.status();
  absl::Status s = (*client)->Init(model);
  if (!s.ok()) return s;
  return client;
}

std::unique_ptr<PsClient> ConnectClient(const LocalCluster& cluster, int rank) {
  auto client = PsClient::Connect(TestClientOptions(cluster, rank));
  INFO(client.status().ToString());
  REQUIRE(client.ok());
  return *std::move(client);
}

std::unique_ptr<PsClient> MakeClient(const LocalCluster& cluster, int rank,
                                     const InitRequest& model) {
  std::unique_ptr<PsClient> client = ConnectClient(cluster, rank);
  absl::Status s = client->Init(model);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return client;
}

}  // namespace pserve
