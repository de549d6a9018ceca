// Corpus discovery and fortune splitting; see text_corpus.h.
// Thread-safety: no shared state.
#include "worker/data/text_corpus.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "worker/data/file_util.h"

namespace pserve {
namespace {

namespace fs = std::filesystem;

bool IsFortuneFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path + ".dat", ec);
}

bool Hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Adds the documents of one file to `corpus`; returns false if binary.
absl::StatusOr<bool> AddFile(const std::string& path, TextCorpus& corpus) {
  absl::StatusOr<std::string> text = ReadWholeFile(path, "input file");
  if (!text.ok()) return text.status();
  if (text->find('\0') != std::string::npos) return false;
  std::vector<std::string> docs;
  if (IsFortuneFile(path)) {
    docs = SplitFortunes(*text);
    ++corpus.fortune_files;
  } else if (!text->empty()) {
    docs.push_back(std::move(text).value());
  }
  ++corpus.files_read;
  for (std::string& d : docs) {
    corpus.bytes += static_cast<int64_t>(d.size());
    corpus.documents.push_back(std::move(d));
  }
  return true;
}

}  // namespace

std::vector<std::string> SplitFortunes(const std::string& text) {
  std::vector<std::string> docs;
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    const size_t line_end = eol == std::string::npos ? text.size() : eol;
    std::string_view line(text.data() + pos, line_end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t next = eol == std::string::npos ? text.size() : eol + 1;
    if (line == "%") {
      if (!current.empty()) docs.push_back(std::move(current));
      current.clear();
    } else {
      current.append(text, pos, next - pos);
    }
    pos = next;
  }
  if (!current.empty()) docs.push_back(std::move(current));
  return docs;
}

absl::StatusOr<TextCorpus> ReadTextCorpus(const std::string& input) {
  TextCorpus corpus;
  std::error_code ec;
  const fs::file_status st = fs::status(input, ec);
  if (!fs::exists(st)) {
    return absl::NotFoundError(absl::StrCat("input ", input, " does not exist",
                                            ec ? ": " + ec.message() : ""));
  }
  if (!fs::is_directory(st)) {
    absl::StatusOr<bool> text = AddFile(input, corpus);
    if (!text.ok()) return text.status();
    if (!*text) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", input, " is binary (it contains NUL bytes), not text"));
    }
  } else {
    std::vector<std::string> files;
    fs::recursive_directory_iterator it(input, ec), end;
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot list directory ", input, ": ", ec.message()));
    }
    for (; it != end; it.increment(ec)) {
      if (ec) {
        return absl::InternalError(
            absl::StrCat("cannot walk directory ", input, ": ", ec.message()));
      }
      const fs::directory_entry& e = *it;
      if (Hidden(e.path())) {
        if (e.is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (e.is_symlink(ec)) {
        ++corpus.links_skipped;
        continue;
      }
      if (e.is_regular_file(ec)) files.push_back(e.path().string());
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot walk directory ", input, ": ", ec.message()));
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      absl::StatusOr<bool> text = AddFile(f, corpus);
      if (!text.ok()) return text.status();
      if (!*text) ++corpus.binary_skipped;
    }
  }
  if (corpus.documents.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input ", input, " holds no text: ", corpus.files_read,
        " text files (all empty), ", corpus.binary_skipped,
        " binary files and ", corpus.links_skipped, " links skipped"));
  }
  return corpus;
}

}  // namespace pserve
