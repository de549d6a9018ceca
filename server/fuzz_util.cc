// The fuzz targets' tiny model. Thread-safety: see fuzz_util.h.
#include "server/fuzz_util.h"

#include <cstdio>
#include <cstdlib>

#include "spdlog/spdlog.h"

namespace pserve {

ServerConfig FuzzServerConfig(ConsistencyMode mode) {
  ServerConfig config;
  config.num_workers = 2;
  config.mode = mode;
  config.staleness = 1;
  config.optimizer.kind = OptimizerKind::kAdam;
  // The calling thread alone applies updates: a helper thread per store
  // (one store per input) cost more than the rest of an input.
  config.update_threads = 1;
  return config;
}

InitRequest FuzzModelDeclaration(ConsistencyMode mode) {
  InitRequest req;
  req.mutable_caller()->set_role(Caller::WORKER);
  req.mutable_caller()->set_rank(0);
  TensorSpec* w = req.add_tensors();
  w->set_name("w");
  w->add_shape(3);
  w->add_shape(4);
  w->mutable_init()->set_kind(InitRule::NORMAL);
  w->mutable_init()->set_std(0.02f);
  TensorSpec* b = req.add_tensors();
  b->set_name("b");
  b->add_shape(5);
  b->mutable_init()->set_kind(InitRule::ONES);
  req.set_seed(7);
  req.set_chunk_bytes(16);
  req.set_num_servers(1);
  req.set_num_workers(2);
  req.set_mode(mode);
  return req;
}

std::unique_ptr<ShardStore> FuzzStore(ConsistencyMode mode) {
  spdlog::set_level(spdlog::level::off);  // a log line per input is slow
  auto store = std::make_unique<ShardStore>(FuzzServerConfig(mode));
  absl::StatusOr<InitResponse> r = store->Init(FuzzModelDeclaration(mode));
  if (!r.ok()) {
    std::fprintf(stderr, "fuzz model refused: %s\n",
                 r.status().ToString().c_str());
    std::abort();
  }
  return store;
}

std::vector<double> StoreDigest(ShardStore& store) {
  std::vector<double> digest;
  std::vector<float> values;
  for (int i = 0; i < store.num_chunks(); ++i) {
    values.resize(store.chunk_info(i).numel);
    digest.push_back(static_cast<double>(store.Read(i, values.data())));
    digest.insert(digest.end(), values.begin(), values.end());
  }
  digest.push_back(static_cast<double>(store.updates_applied()));
  return digest;
}

}  // namespace pserve
