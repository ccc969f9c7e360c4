#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>
#include <vector>

#include "core/faults.hpp"
#include "tandem/error.hpp"

namespace tandem::io {
namespace {

namespace fs = std::filesystem;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

[[noreturn]] void fail(const fs::path& target, const std::string& problem, int err) {
  throw Error(target.string() + ": " + problem + ": " + errno_text(err), ErrorCategory::Io);
}

// Writes all of [p, p + n) to @p fd; returns 0 or the errno of the failed write.
int write_all(int fd, const char* p, std::size_t n) {
  // Linux writes at most ~2 GiB per call; stay well below that.
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
  while (n > 0) {
    const ssize_t written = ::write(fd, p, std::min(n, kMaxChunk));
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += written;
    n -= static_cast<std::size_t>(written);
  }
  return 0;
}

// A buffered std::streambuf onto a POSIX descriptor, so the file can be fsync'ed through the
// same descriptor the stream wrote to. The first failed write's errno is kept for the error.
class FdStreamBuf final : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd), buffer_(kBufferSize) { reset_put_area(); }

  [[nodiscard]] int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  std::streamsize xsputn(const char* s, std::streamsize count) override {
    const auto n = static_cast<std::size_t>(count);
    if (n <= static_cast<std::size_t>(epptr() - pptr())) {
      std::memcpy(pptr(), s, n);
      pbump(static_cast<int>(n));
      return count;
    }
    // Large blocks (tensor data) bypass the buffer.
    if (!flush_buffer() || !write_through(s, n)) return 0;
    return count;
  }

  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  static constexpr std::size_t kBufferSize = std::size_t{1} << 16;

  void reset_put_area() { setp(buffer_.data(), buffer_.data() + buffer_.size()); }

  bool flush_buffer() {
    const bool ok = write_through(pbase(), static_cast<std::size_t>(pptr() - pbase()));
    reset_put_area();
    return ok;
  }

  bool write_through(const char* p, std::size_t n) {
    if (error_ == 0) error_ = write_all(fd_, p, n);
    return error_ == 0;
  }

  int fd_;
  int error_ = 0;
  std::vector<char> buffer_;
};

// The temporary file next to the target. Removed on destruction unless published.
class TempFile {
 public:
  explicit TempFile(const fs::path& target) : target_(target) {
    if (!target.has_filename()) throw Error(target.string() + ": not a file path", ErrorCategory::Io);
    // Unique across threads of this process (the counter) and across processes (the pid);
    // O_EXCL guarantees we never reuse someone else's file.
    static std::atomic<unsigned> counter{0};
    const std::string stem = target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-";
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = target.parent_path() / (stem + std::to_string(counter.fetch_add(1)));
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) break;
    }
    fail(target_, "cannot create temporary file " + path_.string(), errno);
  }

  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!published_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const fs::path& path() const { return path_; }

  // fsync, close, rename over the target, fsync the directory.
  void publish() {
    // An injected failure (faults.hpp) where a real one hurts most: the whole file is written.
    faults::check(faults::Point::FileWrite, target_.string());
    if (::fsync(fd_) != 0) fail(target_, "cannot fsync " + path_.string(), errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(target_, "cannot close " + path_.string(), errno);
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail(target_, "cannot rename " + path_.string() + " over it", errno);
    published_ = true;
    sync_directory();
  }

 private:
  // Makes the rename durable; without it a crash may bring back the old directory entry.
  void sync_directory() const {
    const fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail(target_, "cannot open directory " + dir.string() + " to fsync it", errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) fail(target_, "cannot fsync directory " + dir.string(), err);
  }

  fs::path target_;
  fs::path path_;
  int fd_ = -1;
  bool published_ = false;
};

// Runs the caller's writer; a foreign exception becomes a tandem::Error naming the target.
void run_writer(const fs::path& target, const std::function<void(std::ostream&)>& write, std::ostream& out) {
  try {
    write(out);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(target.string() + ": writing failed: " + e.what(), ErrorCategory::Io);
  }
}

}  // namespace

void write_file_atomically(const fs::path& path, const std::function<void(std::ostream& out)>& write) {
  TempFile tmp(path);
  FdStreamBuf buf(tmp.fd());
  std::ostream out(&buf);
  run_writer(path, write, out);
  out.flush();
  if (buf.error() != 0) fail(path, "cannot write " + tmp.path().string(), buf.error());
  if (!out) throw Error(path.string() + ": the writer left its stream in a failed state", ErrorCategory::Io);
  tmp.publish();
}

void write_file_atomically(const fs::path& path, std::span<const std::byte> bytes) {
  write_file_atomically(path, [bytes](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace tandem::io
