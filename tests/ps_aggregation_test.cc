// Exact sync aggregation against real ps_server processes: the step's mean
// does not depend on the order the ranks' pushes arrive in (bit for bit),
// and workers with uneven shards, each pushing the mean gradient over its
// own examples with their count, train exactly like one process that sees
// the union of the shards.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "tests/ps_test_util.h"

namespace pserve {
namespace {

// A least-squares problem over the whole flat parameter vector w (P):
// example e has features x_e (P) and target y_e; its loss is
// 0.5 * (w . x_e - y_e)^2 / P.
struct Examples {
  int64_t dim = 0;
  std::vector<float> x;  // (N, P)
  std::vector<float> y;  // (N)
  int64_t size() const { return static_cast<int64_t>(y.size()); }
};

Examples MakeExamples(int64_t n, int64_t dim) {
  Examples e;
  e.dim = dim;
  e.x.resize(n * dim);
  e.y.resize(n);
  uint32_t s = 7;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>(s >> 8) / 16777216.0f - 0.5f;
  };
  for (float& v : e.x) v = next();
  for (float& v : e.y) v = 4 * next();
  return e;
}

// Mean loss and mean gradient (P) over examples [begin, end).
double MeanGradient(const Examples& e, const std::vector<float>& w,
                    int64_t begin, int64_t end, std::vector<float>* grad) {
  const int64_t P = e.dim;
  std::vector<double> g(P, 0.0);
  double loss = 0;
  for (int64_t i = begin; i < end; ++i) {
    const float* x = e.x.data() + i * P;
    double r = -e.y[i];
    for (int64_t j = 0; j < P; ++j) r += static_cast<double>(w[j]) * x[j];
    loss += 0.5 * r * r / P;
    for (int64_t j = 0; j < P; ++j) g[j] += r * x[j] / P;
  }
  grad->resize(P);
  const double n = static_cast<double>(end - begin);
  for (int64_t j = 0; j < P; ++j) (*grad)[j] = static_cast<float>(g[j] / n);
  return loss / n;
}

// Trains `steps` sync steps with one client per shard (shard r covers
// examples [bounds[r], bounds[r+1])); each step the clients push in
// `order`, each with its example count (or with 1 if !weighted). Returns the
// final parameters.
std::vector<float> Train(const Examples& e, const std::vector<int64_t>& bounds,
                         const std::vector<int>& order, int steps,
                         bool weighted = true) {
  const int W = static_cast<int>(bounds.size()) - 1;
  auto cluster =
      LocalCluster::Start(2, {"--num_workers=" + std::to_string(W),
                              "--mode=sync", "--optimizer=adamw", "--lr=0.01"});
  REQUIRE(cluster.ok());
  InitRequest model = SmallModel(W, MODE_SYNC);
  std::vector<std::unique_ptr<PsClient>> clients;
  for (int r = 0; r < W; ++r) clients.push_back(MakeClient(*cluster, r, model));
  std::vector<float> w(clients[0]->layout().total_params()), grad;
  for (int t = 0; t < steps; ++t) {
    REQUIRE(clients[0]->Pull(w.data(), t, t).ok());
    for (int r : order) {
      const double loss = MeanGradient(e, w, bounds[r], bounds[r + 1], &grad);
      const PushTag tag{t, weighted ? bounds[r + 1] - bounds[r] : 1, loss};
      REQUIRE(clients[r]->Push(grad.data(), tag).ok());
    }
  }
  REQUIRE(clients[0]->Pull(w.data(), steps, steps).ok());
  return w;
}

constexpr int kSteps = 5;

double LargestDifference(const std::vector<float>& a,
                         const std::vector<float>& b) {
  double worst = 0;
  for (size_t j = 0; j < a.size(); ++j)
    worst = std::max(worst, std::abs(static_cast<double>(a[j]) - b[j]));
  return worst;
}

TEST_CASE("4 workers with uneven shards equal one process over the union") {
  const Examples e = MakeExamples(23, 1486);  // SmallModel's 1486 params
  REQUIRE(static_cast<int64_t>(e.dim) == 1000 + 37 * 13 + 5);
  const std::vector<float> one = Train(e, {0, 23}, {0}, kSteps);
  const std::vector<float> four =
      Train(e, {0, 2, 9, 10, 23}, {0, 1, 2, 3}, kSteps);
  REQUIRE(one.size() == four.size());
  const double worst = LargestDifference(one, four);
  INFO("largest difference " << worst);
  REQUIRE(worst < 1e-5);
  // The plain mean of the four shards' gradients (counts ignored) is not.
  const double unweighted = LargestDifference(
      one, Train(e, {0, 2, 9, 10, 23}, {0, 1, 2, 3}, kSteps, false));
  INFO("unweighted " << unweighted);
  REQUIRE(unweighted > 1e-3);
}

TEST_CASE("the sync result is bit-identical for any arrival order") {
  const Examples e = MakeExamples(17, 1486);
  const std::vector<int64_t> bounds = {0, 5, 6, 13, 17};
  const std::vector<float> in_order = Train(e, bounds, {0, 1, 2, 3}, 3);
  REQUIRE(Train(e, bounds, {3, 1, 0, 2}, 3) == in_order);
  REQUIRE(Train(e, bounds, {2, 3, 1, 0}, 3) == in_order);
}

}  // namespace
}  // namespace pserve
