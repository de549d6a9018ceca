// Whole-file reads and atomic writes; see file_util.h.
// Thread-safety: no shared state.
#include "worker/data/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pserve {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path, absl::string_view action) {
  const std::string msg = absl::StrCat("cannot ", action, " ", what, " ", path,
                                       ": ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          absl::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, what, path, "open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, what, path, "stat");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " ", path, ": it is a directory"));
  }
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, what, path, "read");
    }
    if (n == 0) break;  // The file shrank while we read it.
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  ::close(fd);
  return data;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view data,
                                 absl::string_view what) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, what, path, "create");
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, what, path, "write");
    }
    done += static_cast<size_t>(n);
  }
  int sync_err = ::fsync(fd) != 0 ? errno : 0;
  if (::close(fd) != 0 && sync_err == 0) sync_err = errno;
  if (sync_err != 0) {
    ::unlink(tmp.c_str());
    return ErrnoStatus(sync_err, what, path, "sync");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(rename_err, what, path, "rename into place");
  }
  return absl::OkStatus();
}

}  // namespace pserve
