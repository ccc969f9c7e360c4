// The safetensors reader and writer: round trips, files written by the Python `safetensors`
// library (fixtures made by tests/fixtures/make_safetensors_fixtures.py, expected values
// from numpy / ml_dtypes), hand-built malformed files, and the writer's failure behaviour.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "io_test_util.hpp"
#include "io/safetensors.hpp"
#include "tandem/error.hpp"

namespace tandem::io {
namespace {

namespace fs = std::filesystem;
using test::expect_io_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

const fs::path kFixtures = fs::path(TANDEM_FIXTURES) / "safetensors";

std::string u64_le(std::uint64_t v) {
  std::string out(8, '\0');
  for (auto& c : out) {
    c = static_cast<char>(v & 0xffu);
    v >>= 8;
  }
  return out;
}

// A file image: the 8-byte length (the header's size unless @p length overrides it), the
// header text and @p data_bytes zero bytes.
std::string file_image(const std::string& header, std::size_t data_bytes, std::uint64_t length = ~0ull) {
  return u64_le(length == ~0ull ? header.size() : length) + header + std::string(data_bytes, '\0');
}

std::vector<std::uint32_t> bits_of(const Tensor& t) {
  const float* p = t.data<float>();
  std::vector<std::uint32_t> bits(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = std::bit_cast<std::uint32_t>(p[i]);
  return bits;
}

Tensor iota_f32(const Shape& shape, float scale) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = scale * static_cast<float>(i) - 1.0f;
  return t;
}

// ---------------------------------------------------------------------------------------
// Round trips through our writer and reader.

TEST(SafetensorsRoundTrip, AllRanksDtypesAndMetadata) {
  TempDir dir;
  const fs::path file = dir / "model.safetensors";
  Tensor special = Tensor::from(std::vector<float>{-0.0f, std::numeric_limits<float>::infinity(),
                                                   std::numeric_limits<float>::quiet_NaN(), 1e-45f, -3.5f, 3e38f},
                                Shape{6});
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"scalar_f32", Tensor::from(std::vector<float>{2.5f}, Shape{})},
      {"scalar_i32", Tensor::from(std::vector<std::int32_t>{-7}, Shape{})},
      {"rank1", special},
      {"rank2", iota_f32({2, 3}, 0.5f)},
      {"rank3", iota_f32({2, 3, 4}, -0.25f)},
      {"rank4", iota_f32({2, 1, 3, 2}, 1.5f)},
      {"ids", Tensor::from(std::vector<std::int32_t>{0, 1, 50256, -1, 2147483647, -2147483647 - 1}, Shape{2, 3})},
      {"empty", Tensor::zeros({0, 4})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"step", "12"}};
  write_safetensors(file, tensors, metadata);

  SafetensorsReader reader(file);
  EXPECT_EQ(reader.metadata(), metadata);
  // Packed in the given order, so offset order is the given order ("empty" is last).
  std::vector<std::string> expected_names;
  for (const auto& [name, t] : tensors) expected_names.push_back(name);
  EXPECT_EQ(reader.names(), expected_names);
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(reader.contains(name));
    EXPECT_EQ(reader.shape(name), t.shape());
    if (t.dtype() == DType::F32) {
      EXPECT_EQ(reader.dtype(name), "F32");
      Tensor back = reader.load(name);
      EXPECT_EQ(back.shape(), t.shape());
      EXPECT_EQ(bits_of(back), bits_of(t));
    } else {
      EXPECT_EQ(reader.dtype(name), "I32");
      Tensor back = reader.load_ids(name);
      EXPECT_EQ(back.dtype(), DType::I32);
      EXPECT_EQ(back.shape(), t.shape());
      EXPECT_EQ(std::memcmp(back.data<std::int32_t>(), t.data<std::int32_t>(), t.nbytes()), 0);
    }
  }
  EXPECT_FALSE(reader.contains("missing"));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.safetensors"}) << "temporary file left behind";
}

TEST(SafetensorsRoundTrip, StridedViewIsWrittenPacked) {
  TempDir dir;
  const fs::path file = dir / "view.safetensors";
  Tensor base = iota_f32({4, 5}, 1.0f);
  Tensor view = base.narrow(1, 1, 3);  // (4, 3), row stride 5
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"v", view}});
  Tensor back = SafetensorsReader(file).load("v");
  ASSERT_EQ(back.shape(), (Shape{4, 3}));
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(back.data<float>()[r * 3 + c], base.data<float>()[r * 5 + c + 1]);
}

TEST(SafetensorsRoundTrip, Bf16IsWrittenAsBf16) {
  TempDir dir;
  const fs::path file = dir / "bf16.safetensors";
  Tensor t = Tensor::empty({3}, DType::BF16);
  // 1.5, -0.0 and +inf as bfloat16 bit patterns.
  const std::uint16_t bits[] = {0x3fc0, 0x8000, 0x7f80};
  std::memcpy(t.data<std::uint16_t>(), bits, sizeof(bits));
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"h", t}});
  SafetensorsReader reader(file);
  EXPECT_EQ(reader.dtype("h"), "BF16");
  EXPECT_EQ(bits_of(reader.load("h")), (std::vector<std::uint32_t>{0x3fc00000u, 0x80000000u, 0x7f800000u}));
}

// The exact bytes, derived by hand from the format description: length, compact JSON with
// the keys in the Python library's order, space padding to a multiple of 8, raw data.
TEST(SafetensorsRoundTrip, ExactBytesOfASmallFile) {
  TempDir dir;
  const fs::path file = dir / "a.safetensors";
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{
                              {"a", Tensor::from(std::vector<float>{1.0f, -2.0f}, Shape{2})}});
  const std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_EQ(json.size(), 54u);
  const std::string expected = u64_le(56) + json + "  " + std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);
  EXPECT_EQ(read_bytes(file), expected);
}

TEST(SafetensorsRoundTrip, HeaderIsPaddedToAMultipleOfEight) {
  TempDir dir;
  for (std::string name = "x"; name.size() <= 9; name += "y") {
    const fs::path file = dir / "pad.safetensors";
    write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{name, Tensor::zeros({3})}}, {{"k", name}});
    const std::string bytes = read_bytes(file);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    EXPECT_EQ(n % 8, 0u) << name;
    EXPECT_EQ(bytes.size(), 8 + n + 12) << name;
    EXPECT_EQ(SafetensorsReader(file).metadata().at("k"), name);
  }
}

TEST(SafetensorsRoundTrip, OverwritesAnExistingFile) {
  TempDir dir;
  const fs::path file = dir / "w.safetensors";
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"old", Tensor::zeros({2})}});
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"new", Tensor::zeros({3})}});
  SafetensorsReader reader(file);
  EXPECT_EQ(reader.names(), std::vector<std::string>{"new"});
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"w.safetensors"});
}

// ---------------------------------------------------------------------------------------
// Files written by the Python safetensors library.

TEST(SafetensorsPython, MixedDtypesMatchNumpy) {
  const fs::path file = kFixtures / "python_mixed.safetensors";
  const auto expected = nlohmann::json::parse(read_bytes(kFixtures / "python_mixed.json"));
  SafetensorsReader reader(file);
  EXPECT_EQ(reader.metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(reader.names().size(), expected["tensors"].size());
  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(reader.contains(name));
    EXPECT_EQ(reader.dtype(name), want["dtype"].get<std::string>());
    const auto dims = want["shape"].get<std::vector<std::int64_t>>();
    if (dims.size() > 4) continue;  // see RankFiveIsReportedAtLoad
    EXPECT_EQ(reader.shape(name), Shape(std::span<const std::int64_t>(dims)));
    if (want.contains("f32_bits")) {
      Tensor t = reader.load(name);
      EXPECT_EQ(t.dtype(), DType::F32);
      EXPECT_EQ(bits_of(t), want["f32_bits"].get<std::vector<std::uint32_t>>());
    } else if (want.contains("ints") && name != "i64_too_big") {
      Tensor t = reader.load_ids(name);
      const auto ints = want["ints"].get<std::vector<std::int64_t>>();
      ASSERT_EQ(static_cast<std::size_t>(t.numel()), ints.size());
      for (std::size_t i = 0; i < ints.size(); ++i) EXPECT_EQ(t.data<std::int32_t>()[i], ints[i]) << i;
    }
  }
}

TEST(SafetensorsPython, EveryF16AndBf16PatternMatchesNumpy) {
  SafetensorsReader reader(kFixtures / "python_sweep.safetensors");
  for (const std::string name : {"f16", "bf16"}) {
    SCOPED_TRACE(name);
    const auto got = bits_of(reader.load(name));
    const auto want = bits_of(reader.load(name + "_as_f32"));
    ASSERT_EQ(got.size(), want.size());
    ASSERT_GT(got.size(), 4096u);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i] != want[i] && ++mismatches <= 5)
        ADD_FAILURE() << "element " << i << ": got 0x" << std::hex << got[i] << ", numpy 0x" << want[i];
    }
    EXPECT_EQ(mismatches, 0u);
  }
}

TEST(SafetensorsPython, RankFiveIsReportedAtLoad) {
  const fs::path file = kFixtures / "python_mixed.safetensors";
  SafetensorsReader reader(file);  // valid file: opening succeeds
  ASSERT_TRUE(reader.contains("rank5"));
  expect_io_error([&] { (void)reader.load("rank5"); }, file, {"'rank5'", "rank 5"});
  expect_io_error([&] { (void)reader.shape("rank5"); }, file, {"'rank5'", "rank 5"});
}

TEST(SafetensorsPython, WrongDtypeForTheLoaderIsAnError) {
  const fs::path file = kFixtures / "python_mixed.safetensors";
  SafetensorsReader reader(file);
  expect_io_error([&] { (void)reader.load("i32_ids"); }, file, {"'i32_ids'", "I32"});
  expect_io_error([&] { (void)reader.load("u8_bytes"); }, file, {"'u8_bytes'", "U8"});
  expect_io_error([&] { (void)reader.load_ids("f32_special"); }, file, {"'f32_special'", "F32"});
  expect_io_error([&] { (void)reader.load_ids("i64_too_big"); }, file, {"'i64_too_big'", "2147483648", "i32 range"});
  expect_io_error([&] { (void)reader.load("nope"); }, file, {"no tensor", "'nope'"});
}

// ---------------------------------------------------------------------------------------
// Malformed files, built byte by byte.

class SafetensorsMalformed : public ::testing::Test {
 protected:
  // Writes @p bytes to a file and expects opening it to fail with every fragment.
  void expect_open_error(const std::string& bytes, const std::vector<std::string>& fragments) {
    const fs::path file = dir_ / "bad.safetensors";
    write_bytes(file, bytes);
    expect_io_error([&] { SafetensorsReader reader(file); }, file, fragments);
  }

  TempDir dir_;
};

constexpr const char* kGoodEntry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

TEST_F(SafetensorsMalformed, ShorterThanTheLengthField) {
  expect_open_error("", {"truncated", "0 bytes"});
  expect_open_error(std::string("\x05\x00\x00\x00\x00", 5), {"truncated", "5 bytes"});
}

TEST_F(SafetensorsMalformed, DataCutShort) {
  // A valid file for two floats with its last 4 bytes missing.
  expect_open_error(file_image(std::string("{") + kGoodEntry + "}", 4), {"'a'", "[0,8]", "past the end of the data"});
}

TEST_F(SafetensorsMalformed, HeaderLengthPastEndOfFile) {
  expect_open_error(file_image("{}", 0, 1000), {"header length 1000", "past the end of the file", "10 bytes"});
  expect_open_error(file_image("{}", 0, ~0ull - 1), {"header length 18446744073709551614", "past the end"});
}

TEST_F(SafetensorsMalformed, HeaderLengthOverTheLimit) {
  // A sparse file just over 100 MB, so the length is in bounds but above the limit.
  const fs::path file = dir_ / "big.safetensors";
  write_bytes(file, u64_le(100'000'001));
  fs::resize_file(file, 8 + 100'000'001);
  expect_io_error([&] { SafetensorsReader reader(file); }, file, {"header length 100000001", "limit"});
}

TEST_F(SafetensorsMalformed, HeaderNotJson) {
  expect_open_error(file_image("{not json}", 0), {"header is not valid JSON"});
  expect_open_error(file_image(std::string("{\"a\":\n"), 0), {"header is not valid JSON"});
  expect_open_error(file_image("", 0), {"header is not valid JSON"});
}

TEST_F(SafetensorsMalformed, HeaderNotAnObject) {
  expect_open_error(file_image("[1, 2]  ", 0), {"not a JSON object"});
}

TEST_F(SafetensorsMalformed, DuplicateTensorNames) {
  expect_open_error(file_image(std::string("{") + kGoodEntry + "," + kGoodEntry + "}", 8),
                    {"duplicate tensor name 'a'"});
  // A name with a newline is escaped so the message stays on one line.
  expect_open_error(file_image(R"({"a\nb":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                               R"("a\nb":{"dtype":"F32","shape":[],"data_offsets":[4,8]}})",
                               8),
                    {"duplicate tensor name 'a\\x0ab'"});
}

TEST_F(SafetensorsMalformed, DuplicateKeyInsideAnEntry) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})", 8),
                    {"duplicate key 'dtype'"});
}

TEST_F(SafetensorsMalformed, OverlappingOffsets) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               12),
                    {"'a' [0, 8]", "'b' [4, 12]", "overlap"});
  // The same range twice.
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                               8),
                    {"'a'", "'b'", "overlap"});
}

TEST_F(SafetensorsMalformed, OffsetsPastTheData) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 12),
                    {"'a'", "[8,16]", "past the end of the data section (12 bytes"});
}

TEST_F(SafetensorsMalformed, BeginAfterEnd) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 12),
                    {"'a'", "[8,4]", "begin after end"});
}

TEST_F(SafetensorsMalformed, ShapeTimesDtypeSizeMismatch) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                    {"'a'", "[3]", "F32", "needs 12 bytes", "hold 8"});
  expect_open_error(file_image(R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}})", 16),
                    {"'a'", "F16", "needs 8 bytes", "hold 16"});
}

TEST_F(SafetensorsMalformed, ShapeProductOverflows) {
  expect_open_error(
      file_image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", 0),
      {"'a'", "too large"});
}

TEST_F(SafetensorsMalformed, UnknownDtype) {
  expect_open_error(file_image(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", 8),
                    {"'a'", "unknown dtype 'F31'"});
  expect_open_error(file_image(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8),
                    {"'a'", "dtype 4 is not a string"});
}

TEST_F(SafetensorsMalformed, NegativeOrNonIntegerShape) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0),
                    {"'a'", "shape [-1]", "non-negative integer"});
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
                    {"'a'", "shape [2.5]", "non-negative integer"});
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8),
                    {"'a'", R"(shape ["2"])", "non-negative integer"});
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
                    {"'a'", "shape 2 is not an array"});
}

TEST_F(SafetensorsMalformed, MissingFields) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2]}})", 8), {"'a'", "missing data_offsets"});
  expect_open_error(file_image(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), {"'a'", "missing shape"});
  expect_open_error(file_image(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), {"'a'", "missing dtype"});
  expect_open_error(file_image(R"({"a":[1,2]})", 8), {"'a'", "not a JSON object"});
}

TEST_F(SafetensorsMalformed, BadDataOffsets) {
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8),
                    {"'a'", "[begin, end] pair"});
  expect_open_error(file_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
                    {"'a'", "[-8,0]", "non-negative integers"});
}

TEST_F(SafetensorsMalformed, BadMetadata) {
  expect_open_error(file_image(R"({"__metadata__":{"k":1}})", 0), {"__metadata__", "'k'", "not a string"});
  expect_open_error(file_image(R"({"__metadata__":"x"})", 0), {"__metadata__", "not a JSON object"});
}

TEST_F(SafetensorsMalformed, NotAFile) {
  expect_io_error([&] { SafetensorsReader reader(dir_ / "absent.safetensors"); }, dir_ / "absent.safetensors",
                  {"cannot open", "No such file"});
  expect_io_error([&] { SafetensorsReader reader(dir_.path()); }, dir_.path(), {"not a regular file"});
}

// The spec forbids holes, but real files never have them and they are harmless; only
// overlap and bounds are errors.
TEST_F(SafetensorsMalformed, HolesAreAccepted) {
  const fs::path file = dir_ / "holes.safetensors";
  std::string bytes = file_image(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} )",
                                 16);
  const float a = 1.25f, b = -4.0f;
  std::memcpy(bytes.data() + bytes.size() - 16, &a, 4);
  std::memcpy(bytes.data() + bytes.size() - 8, &b, 4);
  write_bytes(file, bytes);
  SafetensorsReader reader(file);
  EXPECT_EQ(reader.names(), (std::vector<std::string>{"a", "b"}));  // offset order
  EXPECT_EQ(reader.load("a").data<float>()[0], a);
  EXPECT_EQ(reader.load("b").data<float>()[0], b);
}

// ---------------------------------------------------------------------------------------
// Writer errors.

TEST(SafetensorsWriter, DuplicateNameFailsBeforeWriting) {
  TempDir dir;
  const fs::path file = dir / "dup.safetensors";
  expect_io_error(
      [&] {
        write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"w", Tensor::zeros({2})},
                                                                            {"w", Tensor::zeros({2})}});
      },
      file, {"duplicate tensor name 'w'"});
  EXPECT_TRUE(dir.listing().empty());
}

TEST(SafetensorsWriter, UndefinedTensorLeavesThePreviousFile) {
  TempDir dir;
  const fs::path file = dir / "keep.safetensors";
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"old", Tensor::zeros({2})}});
  const std::string before = read_bytes(file);
  expect_io_error(
      [&] {
        write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"a", Tensor::zeros({2})}, {"b", Tensor()}});
      },
      file, {"'b'", "undefined"});
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"keep.safetensors"});
}

TEST(SafetensorsWriter, ReservedName) {
  TempDir dir;
  const fs::path file = dir / "r.safetensors";
  expect_io_error(
      [&] { write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"__metadata__", Tensor::zeros({1})}}); },
      file, {"'__metadata__'", "reserved"});
}

TEST(SafetensorsWriter, DirectoryAtTheTargetPath) {
  TempDir dir;
  const fs::path target = dir / "taken";
  fs::create_directory(target);
  expect_io_error(
      [&] { write_safetensors(target, std::vector<std::pair<std::string, Tensor>>{{"a", Tensor::zeros({2})}}); },
      target, {"cannot rename"});
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"taken"}) << "temporary file left behind";
}

TEST(SafetensorsWriter, MissingDirectory) {
  TempDir dir;
  const fs::path target = dir / "no" / "such" / "file.safetensors";
  expect_io_error(
      [&] { write_safetensors(target, std::vector<std::pair<std::string, Tensor>>{{"a", Tensor::zeros({2})}}); },
      target, {"cannot create temporary file", "No such file or directory"});
}

TEST(SafetensorsWriter, UnwritableDirectoryLeavesThePreviousFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  const fs::path file = dir / "ro.safetensors";
  write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"old", Tensor::zeros({2})}});
  const std::string before = read_bytes(file);
  fs::permissions(dir.path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  expect_io_error(
      [&] { write_safetensors(file, std::vector<std::pair<std::string, Tensor>>{{"new", Tensor::zeros({3})}}); },
      file, {"cannot create temporary file", "Permission denied"});
  fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::add);
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"ro.safetensors"});
}

}  // namespace
}  // namespace tandem::io
