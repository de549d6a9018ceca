// Reads the PyTorch reference file for the GPT model tests.
// Thread-safety: no shared state.
#include "worker/model/gpt_reference.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

template <typename T>
bool ReadInto(FILE* f, std::vector<T>* out, size_t n) {
  out->resize(n);
  return std::fread(out->data(), sizeof(T), n, f) == n;
}

}  // namespace

absl::StatusOr<GptReference> ReadGptReference(const std::string& path) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  auto short_file = [&path](const char* what) {
    return absl::DataLossError(absl::StrCat(path, ": truncated in ", what));
  };
  std::vector<int32_t> h;
  std::vector<float> hyper;
  if (!ReadInto(f.get(), &h, 16) || !ReadInto(f.get(), &hyper, 8)) {
    return short_file("header");
  }
  if (h[0] != kGptReferenceMagic || h[1] != 1) {
    return absl::DataLossError(absl::StrCat(path, ": bad magic/version ", h[0],
                                            "/", h[1], " (want ",
                                            kGptReferenceMagic, "/1)"));
  }
  GptReference r;
  r.B = h[2];
  r.T = h[3];
  r.config = {/*max_seq_len=*/h[4],       /*vocab_size=*/h[5],
              /*padded_vocab_size=*/h[6], /*num_layers=*/h[7],
              /*num_heads=*/h[8],         /*channels=*/h[9]};
  const int num_steps = h[10];
  if (absl::Status s = ValidateGptConfig(r.config); !s.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
  }
  if (r.B < 1 || r.T < 1 || r.T > r.config.max_seq_len || num_steps < 0) {
    return absl::DataLossError(absl::StrCat(path, ": bad B/T/num_steps"));
  }
  r.lr = hyper[0];
  r.beta1 = hyper[1];
  r.beta2 = hyper[2];
  r.eps = hyper[3];
  r.weight_decay = hyper[4];
  const size_t n = static_cast<size_t>(r.B) * r.T;
  const size_t P = GptNumParameters(r.config);
  std::vector<float> loss;
  if (!ReadInto(f.get(), &r.inputs, n)) return short_file("inputs");
  if (!ReadInto(f.get(), &r.targets, n)) return short_file("targets");
  if (!ReadInto(f.get(), &r.params, P)) return short_file("params");
  if (!ReadInto(f.get(), &r.logits, n * r.config.padded_vocab_size)) {
    return short_file("logits");
  }
  if (!ReadInto(f.get(), &loss, 1)) return short_file("loss");
  r.loss = loss[0];
  if (!ReadInto(f.get(), &r.grads, P)) return short_file("grads");
  if (!ReadInto(f.get(), &r.step_losses, num_steps)) {
    return short_file("step losses");
  }
  if (std::fgetc(f.get()) != EOF) {
    return absl::DataLossError(absl::StrCat(path, ": trailing bytes"));
  }
  return r;
}

}  // namespace pserve
