// Gathers the documents of a training corpus from a text file or a
// directory tree of text files, in a deterministic order.
// Thread-safety: a pure function over the file system; no shared state.
#ifndef PSERVE_WORKER_DATA_TEXT_CORPUS_H_
#define PSERVE_WORKER_DATA_TEXT_CORPUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pserve {

struct TextCorpus {
  std::vector<std::string> documents;  // In file order, then within a file.
  int files_read = 0;                  // Text files that gave documents.
  int fortune_files = 0;               // Of those, split on '%' lines.
  int binary_skipped = 0;              // Files containing a NUL byte.
  int links_skipped = 0;               // Symbolic links met in directories.
  int64_t bytes = 0;                   // Total bytes of the documents.
};

// Reads `input`, a file or a directory. Rules:
//  - A directory is walked recursively; entries are sorted by full path;
//    names starting with '.' are skipped, as are symbolic links (Debian's
//    fortune directories link NAME.u8 -> NAME, which would count twice).
//    `input` itself may be a link.
//  - A file containing a NUL byte is binary and skipped (e.g. strfile's
//    NAME.dat indexes); a lone binary `input` file is an error.
//  - A file is one document, except a fortune file: one with a sibling
//    NAME.dat (strfile's index). Its lines holding just "%" separate
//    fortunes, and each fortune is a document.
//  - Empty documents are dropped.
// Returns NOT_FOUND if `input` does not exist, INVALID_ARGUMENT if it is a
// binary file or holds no text at all, INTERNAL on other I/O errors; one
// line each, naming the path. Blocks on disk I/O.
absl::StatusOr<TextCorpus> ReadTextCorpus(const std::string& input);

// Splits fortune-file text at lines holding just "%" (a trailing '\r' is
// tolerated); each piece keeps its own line breaks. Empty pieces dropped.
std::vector<std::string> SplitFortunes(const std::string& text);

}  // namespace pserve

#endif  // PSERVE_WORKER_DATA_TEXT_CORPUS_H_
