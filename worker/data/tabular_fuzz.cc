// Fuzz target: tabular data files as ReadTabular reads them. Any bytes must
// give data or a Status, never a crash or an allocation the file cannot
// back; data that loads must batch. Thread-safety: one input at a time
// (libFuzzer).
#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

#include "third_party/fuzz_support.h"
#include "worker/data/tabular.h"

namespace pserve {

std::vector<std::string> FuzzSeeds() {
  TabularData cls;
  cls.num_features = 2;
  cls.num_classes = 3;
  cls.feature_shift = {0.5f, -1};
  cls.feature_scale = {2, 1};
  cls.class_labels = {1, 2, 7};
  cls.features = {0, 1, 2, 3, 4, 5, 6, 7};  // (4, 2)
  cls.targets = {0, 2, 1, 1};
  TabularData reg = cls;
  reg.task = TabularTask::kRegression;
  reg.normalize = Normalization::kMinMax;
  reg.num_classes = 0;
  reg.class_labels.clear();
  reg.targets = {0.5f, -1, 2, 0};
  std::vector<std::string> seeds;
  for (const TabularData* d : {&cls, &reg}) {
    const std::string path = FuzzScratchDir() + "/seed.tab";
    if (!WriteTabular(path, *d).ok()) continue;
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  return seeds;
}

}  // namespace pserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pserve;
  absl::StatusOr<TabularData> t = ReadTabular(WriteFuzzFile(data, size));
  if (!t.ok()) return 0;
  for (int batch : {0, 2}) {
    absl::StatusOr<TabularBatcher> b =
        TabularBatcher::Create(&*t, batch, 1, 2, 3);
    if (!b.ok()) continue;
    std::vector<float> x(b->rows_per_step() * t->num_features);  // (B, F)
    std::vector<float> y(b->rows_per_step());                    // (B)
    for (int64_t step = 0; step < 3; ++step) b->Batch(step, x.data(), y.data());
  }
  return 0;
}
