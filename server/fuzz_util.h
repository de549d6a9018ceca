// Shared by the server's fuzz targets: a tiny declared model and a store
// initialised with it, and a digest of everything a request may not change
// when it is refused. Thread-safety: single-threaded use by one fuzz input.
#ifndef PSERVE_SERVER_FUZZ_UTIL_H_
#define PSERVE_SERVER_FUZZ_UTIL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "proto/ps.pb.h"
#include "server/shard_store.h"

namespace pserve {

// One server of one, two workers, `mode`, one update thread (no helpers);
// tensors "w" (3, 4) and "b" (5) cut into 4-float chunks (5 chunks in all).
// Deterministic.
ServerConfig FuzzServerConfig(ConsistencyMode mode);
InitRequest FuzzModelDeclaration(ConsistencyMode mode);

// A store for FuzzServerConfig(mode), already declared by rank 0. Aborts if
// the declaration is refused (the harness itself would be broken). Turns
// logging off: fuzz inputs are refused by the thousand.
std::unique_ptr<ShardStore> FuzzStore(ConsistencyMode mode);

// Every chunk's parameters (numel floats each) and version, in order, plus
// the store's update count: what a refused request must leave unchanged.
std::vector<double> StoreDigest(ShardStore& store);

}  // namespace pserve

#endif  // PSERVE_SERVER_FUZZ_UTIL_H_
