// Shared pieces of the multi-process parameter-server tests: a small model
// declaration, exactly representable gradients, and client construction.
// TryMakeClient is thread-safe (no assertions); ConnectClient and MakeClient
// assert with Catch2 and so are for the test's main thread only.
#ifndef PSERVE_TESTS_PS_TEST_UTIL_H_
#define PSERVE_TESTS_PS_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "cluster/local_cluster.h"
#include "proto/ps.pb.h"
#include "worker/client/ps_client.h"

namespace pserve {

// Three tensors (1000, 37x13, 5 floats) cut into 1 KiB chunks.
InitRequest SmallModel(int num_workers, ConsistencyMode mode);

// Gradient element i of worker w at step t: multiples of 1/8, so sums and
// means over 1, 2 or 4 workers are exact in float whatever the order.
float KnownGrad(int w, int t, int64_t i);
std::vector<float> KnownGrads(int w, int t, int64_t n);

// Client options for rank `rank` of `cluster`: its addresses, a 30 s
// connect timeout and a 60 s pull timeout.
ClientOptions TestClientOptions(const LocalCluster& cluster, int rank);

// A client for rank `rank` connected to the cluster and declared, or the
// first error. Safe on any thread.
absl::StatusOr<std::unique_ptr<PsClient>> TryMakeClient(
    const LocalCluster& cluster, int rank, const InitRequest& model);

// A client for rank `rank` connected to the cluster, not yet declared.
std::unique_ptr<PsClient> ConnectClient(const LocalCluster& cluster, int rank);

// A client for rank `rank` connected to the cluster and declared.
std::unique_ptr<PsClient> MakeClient(const LocalCluster& cluster, int rank,
                                     const InitRequest& model);

}  // namespace pserve

#endif  // PSERVE_TESTS_PS_TEST_UTIL_H_
