// Tests of the CSV parser, ps_prepare's tabular mode (on the real wine and
// diabetes files) and the data-parallel row batcher.
// Thread-safety: single-threaded Catch2 tests.
#include "worker/data/tabular.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "worker/data/tabular_prepare.h"

namespace pserve {
namespace {

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string DataFile(const std::string& name) {
  const char* src = std::getenv("TEST_SRCDIR");
  return std::string(src != nullptr ? src : ".") + "/pserve/tests/data/" + name;
}

std::string WriteText(const std::string& name, const std::string& text) {
  const std::string path = TempDir(name);
  std::ofstream(path) << text;
  return path;
}

std::string ErrorOf(const std::string& csv, const std::string& target) {
  TabularPrepareOptions o;
  o.input = WriteText("bad.csv", csv);
  o.target = target;
  o.out_dir = TempDir("bad_out");
  return std::string(PrepareTabular(o).status().message());
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("ParseCsv reads quoted headers and rejects bad rows", "[tabular]") {
  absl::StatusOr<CsvTable> t =
      ParseCsv("\"a, b\",c\r\n1,2\r\n\r\n3.5,-4e1\n", "x.csv");
  REQUIRE(t.ok());
  CHECK(t->columns == std::vector<std::string>{"a, b", "c"});
  CHECK(t->rows() == 2);
  CHECK(t->cells[3] == -40.0);
  const std::string ragged = ErrorOf("a,b,y\n1,2,0\n1,2\n", "y");
  CHECK(Has(ragged, "row 2 (line 3) has 2 columns but the header has 3"));
  const std::string text = ErrorOf("a,b,y\n1,2,0\n1,x,1\n", "y");
  CHECK(Has(text, "row 2 (line 3) column 2 'b': 'x' is not a finite number"));
  const std::string empty = ErrorOf("a,b,y\n1,,0\n", "y");
  CHECK(Has(empty, "column 2 'b': ''"));
  CHECK(Has(ErrorOf("a,b,y\n1,2,0\n", "z"), "no column 'z'"));
  CHECK(Has(ErrorOf("a,b,y\n1,2,3\n4,5,3\n", "y"), "one class only (3)"));
  CHECK(Has(ErrorOf("a,y\n", "y"), "no data rows"));
  CHECK(ErrorOf("a,y\n1,0\n2,1\n", "y").empty());
}

TEST_CASE("wine is a 3-class task split 143/35 and round-trips", "[tabular]") {
  TabularPrepareOptions o;
  o.input = DataFile("wine.csv");
  o.target = "target";
  o.out_dir = TempDir("wine");
  absl::StatusOr<TabularPrepareResult> r = PrepareTabular(o);
  REQUIRE(r.ok());
  CHECK(r->train.task == TabularTask::kClassification);
  CHECK(r->train.num_classes == 3);
  CHECK(r->train.num_features == 13);
  CHECK(r->train.rows() == 143);
  CHECK(r->val_rows == 35);
  absl::StatusOr<TabularData> back = ReadTabular(r->train_path);
  REQUIRE(back.ok());
  CHECK(back->features == r->train.features);
  CHECK(back->targets == r->train.targets);
  double mean = 0;  // standardised with train statistics: mean ~0
  for (int64_t i = 0; i < back->rows(); ++i) mean += back->features[i * 13];
  CHECK(std::abs(mean / back->rows()) < 1e-4);
  absl::StatusOr<TabularData> again = PrepareTabular(o).value().train;
  CHECK(again->features == r->train.features);  // deterministic
}

TEST_CASE("diabetes is inferred as regression; truncation is DATA_LOSS",
          "[tabular]") {
  TabularPrepareOptions o;
  o.input = DataFile("diabetes.csv");
  o.target = "target";
  o.out_dir = TempDir("diabetes");
  o.normalize = Normalization::kMinMax;
  absl::StatusOr<TabularPrepareResult> r = PrepareTabular(o);
  REQUIRE(r.ok());
  CHECK(r->train.task == TabularTask::kRegression);
  CHECK(r->train.num_outputs() == 1);
  CHECK(r->train.target_scale > 100);  // max - min of the target
  std::ifstream in(r->train_path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut =
      WriteText("cut.tab", bytes.substr(0, bytes.size() - 4));
  CHECK(ReadTabular(cut).status().code() == absl::StatusCode::kDataLoss);
  const std::string junk =
      WriteText("junk.tab", "this is not a tabular file, it is plain text");
  CHECK(ReadTabular(junk).status().code() ==
        absl::StatusCode::kInvalidArgument);
  o.task = TabularTask::kClassification;
  o.input = WriteText("frac.csv", "a,y\n1,0.5\n2,1\n");
  o.target = "y";
  CHECK(Has(std::string(PrepareTabular(o).status().message()),
            "non-integer values"));
}

TEST_CASE("W workers with B rows see the rows of 1 worker with W*B",
          "[tabular]") {
  TabularData d;
  d.num_features = 1;
  d.num_classes = 2;
  d.feature_shift = {0}, d.feature_scale = {1}, d.class_labels = {0, 1};
  for (int i = 0; i < 30; ++i)
    d.features.push_back(i), d.targets.push_back(i % 2);
  TabularBatcher one = TabularBatcher::Create(&d, 12, 0, 1, 7).value();
  for (int64_t step = 0; step < 6; ++step) {  // crosses epoch boundaries
    std::vector<float> x1(12), y1(12);
    one.Batch(step, x1.data(), y1.data());
    std::vector<float> x4;
    for (int w = 0; w < 4; ++w) {
      TabularBatcher b = TabularBatcher::Create(&d, 3, w, 4, 7).value();
      std::vector<float> x(3), y(3);
      b.Batch(step, x.data(), y.data());
      x4.insert(x4.end(), x.begin(), x.end());
    }
    CHECK(x4 == x1);
  }
  std::set<float> seen;  // full batch: disjoint shards that cover every row
  int total = 0;
  for (int w = 0; w < 4; ++w) {
    TabularBatcher b = TabularBatcher::Create(&d, 0, w, 4, 7).value();
    std::vector<float> x(b.rows_per_step()), y(b.rows_per_step());
    b.Batch(3, x.data(), y.data());
    seen.insert(x.begin(), x.end());
    total += b.rows_per_step();
  }
  CHECK(total == 30);
  CHECK(seen.size() == 30);
  CHECK(!TabularBatcher::Create(&d, 0, 0, 31, 7).ok());
}

}  // namespace pserve
