// write_file_atomically: the content arrives whole, nothing is left behind, and every failure
// leaves the previous file untouched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "io/atomic_file.hpp"
#include "io_test_util.hpp"
#include "tandem/error.hpp"

namespace tandem::io {
namespace {

namespace fs = std::filesystem;
using test::expect_io_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(AtomicFile, WritesStreamContentAndLeavesNoTemporary) {
  TempDir dir;
  const fs::path file = dir / "out.json";
  // More than the stream buffer (64 KiB), in small and large pieces.
  const std::string big(200'000, 'z');
  write_file_atomically(file, [&](std::ostream& out) { out << "{\"n\": " << 42 << "}\n" << big; });
  EXPECT_EQ(read_bytes(file), "{\"n\": 42}\n" + big);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.json"});
}

TEST(AtomicFile, WritesBytesAndReplacesTheOldFile) {
  TempDir dir;
  const fs::path file = dir / "data.bin";
  write_bytes(file, "old content that is longer");
  const std::string content("\x00\x01\x02 new", 7);
  write_file_atomically(file, as_bytes(content));
  EXPECT_EQ(read_bytes(file), content);
  write_file_atomically(file, as_bytes(std::string()));
  EXPECT_EQ(read_bytes(file), "");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"data.bin"});
}

TEST(AtomicFile, RelativePathInTheCurrentDirectory) {
  TempDir dir;
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  write_file_atomically("rel.txt", as_bytes(std::string("hi")));
  fs::current_path(old_cwd);
  EXPECT_EQ(read_bytes(dir / "rel.txt"), "hi");
}

TEST(AtomicFile, TandemErrorFromTheWriterPropagatesAndKeepsTheOldFile) {
  TempDir dir;
  const fs::path file = dir / "keep.txt";
  write_bytes(file, "previous");
  try {
    write_file_atomically(file, [](std::ostream& out) {
      out << std::string(100'000, 'x');  // partly flushed to the temporary file already
      throw Error("checkpoint: tensor 'w' is not finite");
    });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "checkpoint: tensor 'w' is not finite");
    EXPECT_EQ(e.category(), ErrorCategory::InvalidArgument);
  }
  EXPECT_EQ(read_bytes(file), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"keep.txt"});
}

TEST(AtomicFile, ForeignExceptionBecomesAnIoError) {
  TempDir dir;
  const fs::path file = dir / "keep.txt";
  write_bytes(file, "previous");
  expect_io_error([&] { write_file_atomically(file, [](std::ostream&) { throw std::runtime_error("boom"); }); }, file,
                  {"writing failed", "boom"});
  EXPECT_EQ(read_bytes(file), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"keep.txt"});
}

TEST(AtomicFile, FailedStreamIsAnError) {
  TempDir dir;
  const fs::path file = dir / "keep.txt";
  write_bytes(file, "previous");
  expect_io_error([&] { write_file_atomically(file, [](std::ostream& out) { out.setstate(std::ios::failbit); }); },
                  file, {"failed state"});
  EXPECT_EQ(read_bytes(file), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"keep.txt"});
}

TEST(AtomicFile, DirectoryAtTheTargetPath) {
  TempDir dir;
  const fs::path target = dir / "sub";
  fs::create_directory(target);
  expect_io_error([&] { write_file_atomically(target, as_bytes(std::string("x"))); }, target,
                  {"cannot rename", "sub.tmp-" + std::to_string(::getpid()) + "-", "directory"});
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"sub"});
}

TEST(AtomicFile, MissingDirectoryOrNoFileName) {
  TempDir dir;
  const fs::path target = dir / "absent" / "f.txt";
  expect_io_error([&] { write_file_atomically(target, as_bytes(std::string("x"))); }, target,
                  {"cannot create temporary file", "No such file or directory"});
  const fs::path no_name = dir.path() / "";
  expect_io_error([&] { write_file_atomically(no_name, as_bytes(std::string("x"))); }, no_name, {"not a file path"});
}

TEST(AtomicFile, UnwritableDirectoryKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  const fs::path file = dir / "keep.txt";
  write_bytes(file, "previous");
  fs::permissions(dir.path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  expect_io_error([&] { write_file_atomically(file, as_bytes(std::string("new"))); }, file,
                  {"cannot create temporary file", "Permission denied"});
  fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::add);
  EXPECT_EQ(read_bytes(file), "previous");
}

// Concurrent writers of one target each use their own temporary file, so the result is
// always one writer's complete content.
TEST(AtomicFile, ConcurrentWritersNeverMixContent) {
  TempDir dir;
  const fs::path file = dir / "shared.bin";
  const std::string a(150'000, 'a'), b(90'000, 'b');
  auto writer = [&](const std::string& content) {
    for (int i = 0; i < 20; ++i) write_file_atomically(file, as_bytes(content));
  };
  std::thread ta(writer, std::cref(a)), tb(writer, std::cref(b));
  ta.join();
  tb.join();
  const std::string result = read_bytes(file);
  EXPECT_TRUE(result == a || result == b) << "mixed content of " << result.size() << " bytes";
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"shared.bin"});
}

}  // namespace
}  // namespace tandem::io
