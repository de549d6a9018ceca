// Fuzz target: the server's handling of every request message. An input is
// a mode byte then up to 16 records [method byte][uint16 length][bytes];
// each record's bytes are parsed as that method's request and handled by
// the service over a store already declared with the fuzz model; checkpoints
// go to a scratch folder and must land inside it. Waits are
// cancelled at once (the service is stopped first), so no pull blocks. A
// refused request must leave parameters, versions and update counts
// unchanged. Thread-safety: one input at a time (libFuzzer).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "server/fuzz_util.h"
#include "server/service.h"
#include "third_party/fuzz_support.h"

namespace pserve {
namespace {

enum Method : uint8_t { kInit, kPull, kPush, kCheckpoint, kStats, kMethods };

constexpr int kMaxRecords = 16;

std::string Record(Method m, const google::protobuf::Message& msg) {
  const std::string body = msg.SerializeAsString();
  std::string r(1, static_cast<char>(m));
  r.push_back(static_cast<char>(body.size() & 0xff));
  r.push_back(static_cast<char>(body.size() >> 8));
  return r + body;
}

grpc::Status Handle(ParameterServerService& service, Method m,
                    const std::string& bytes) {
  grpc::ServerContext ctx;
  auto call = [&](auto req, auto resp, auto method) {
    if (!req.ParseFromString(bytes))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unparsable");
    return (service.*method)(&ctx, &req, &resp);
  };
  using S = ParameterServerService;
  switch (m) {
    case kInit:
      return call(InitRequest(), InitResponse(), &S::Init);
    case kPull:
      return call(PullRequest(), PullResponse(), &S::Pull);
    case kPush:
      return call(PushRequest(), PushResponse(), &S::Push);
    case kCheckpoint: {
      CheckpointRequest req;
      CheckpointResponse resp;
      if (!req.ParseFromString(bytes))
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unparsable");
      const grpc::Status s = service.Checkpoint(&ctx, &req, &resp);
      // Whatever the name, the file lands in the server's own folder.
      if (s.ok() && resp.path().rfind(FuzzScratchDir() + "/", 0) != 0) {
        std::fprintf(stderr, "checkpoint written outside its folder: %s\n",
                     resp.path().c_str());
        std::abort();
      }
      if (s.ok()) std::remove(resp.path().c_str());
      return s;
    }
    default:
      return call(StatsRequest(), StatsResponse(), &S::GetStats);
  }
}

PushRequest SeedPush(int rank, int64_t step, DType dtype, int numel_cut) {
  PushRequest req;
  req.mutable_caller()->set_role(Caller::WORKER);
  req.mutable_caller()->set_rank(rank);
  req.set_step(step);
  req.set_dtype(dtype);
  req.set_example_count(4);
  req.set_loss(1.5);
  std::unique_ptr<ShardStore> store = FuzzStore(MODE_ASYNC);
  for (int i = 0; i < store->num_chunks(); ++i) {
    ChunkData* c = req.add_chunks();
    c->set_key(store->chunk_info(i).key);
    const size_t elem = dtype == FP32 ? 4 : 2;
    c->set_data(
        std::string((store->chunk_info(i).numel - numel_cut) * elem, '\x3c'));
  }
  return req;
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  std::unique_ptr<ShardStore> store = FuzzStore(MODE_SYNC);
  PullRequest pull;
  pull.mutable_caller()->set_role(Caller::WORKER);
  pull.mutable_caller()->set_rank(1);
  for (int i = 0; i < store->num_chunks(); ++i)
    pull.add_keys(store->chunk_info(i).key);
  CheckpointRequest ckpt;
  ckpt.mutable_caller()->set_role(Caller::ADMIN);
  ckpt.set_name("fuzz");
  std::vector<std::string> seeds;
  for (ConsistencyMode mode : {MODE_SYNC, MODE_ASYNC, MODE_SSP}) {
    std::string s(1, static_cast<char>(mode - MODE_SYNC));
    s += Record(kInit, FuzzModelDeclaration(mode));
    s += Record(kPush, SeedPush(0, 0, FP32, 0));
    s += Record(kPush, SeedPush(1, 0, BF16, 0));
    s += Record(kPull, pull);
    pull.set_min_version(1);
    pull.set_clock(1);
    pull.set_dtype(FP16);
    s += Record(kPull, pull);
    s += Record(kPush, SeedPush(0, 1, FP32, 1));
    s += Record(kCheckpoint, ckpt);
    s += Record(kStats, StatsRequest());
    seeds.push_back(s);
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pserve;
  if (size < 1) return 0;
  const auto mode = static_cast<ConsistencyMode>(MODE_SYNC + data[0] % 3);
  std::unique_ptr<ShardStore> store = FuzzStore(mode);
  ServerRecovery recovery(store.get(), CheckpointPolicy{FuzzScratchDir(), 0, 2},
                          "");
  ParameterServerService service(store.get(), &recovery);
  service.Stop();
  size_t at = 1;
  for (int r = 0; r < kMaxRecords && at + 3 <= size; ++r) {
    const auto method = static_cast<Method>(data[at] % kMethods);
    const size_t len = data[at + 1] | (size_t{data[at + 2]} << 8);
    at += 3;
    const std::string bytes(reinterpret_cast<const char*>(data + at),
                            std::min(len, size - at));
    at += bytes.size();
    const std::vector<double> before = StoreDigest(*store);
    const grpc::Status s = Handle(service, method, bytes);
    const std::vector<double> after = StoreDigest(*store);
    if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED &&
        (before.size() != after.size() ||
         std::memcmp(before.data(), after.data(),
                     before.size() * sizeof(double)) != 0)) {
      std::fprintf(stderr, "a refused request changed the store: %s\n",
                   s.error_message().c_str());
      std::abort();
    }
  }
  return 0;
}
