#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <ostream>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "tandem/error.hpp"

// The format stores little-endian data; tensors are copied with memcpy.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace tandem::io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The reference implementation's limit (safetensors MAX_HEADER_SIZE); a larger header is
// far more likely a corrupt length than a real file.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::string_view kMetadataKey = "__metadata__";

struct DTypeInfo {
  std::string_view name;
  std::size_t size;
};

// Every dtype of the format with a whole-byte element size (the spec's list; the sub-byte
// F4/F6 types are not supported).
constexpr std::array<DTypeInfo, 17> kDTypes{{{"BOOL", 1},
                                             {"U8", 1},
                                             {"I8", 1},
                                             {"F8_E5M2", 1},
                                             {"F8_E4M3", 1},
                                             {"F8_E8M0", 1},
                                             {"I16", 2},
                                             {"U16", 2},
                                             {"F16", 2},
                                             {"BF16", 2},
                                             {"I32", 4},
                                             {"U32", 4},
                                             {"F32", 4},
                                             {"I64", 8},
                                             {"U64", 8},
                                             {"F64", 8},
                                             {"C64", 8}}};

std::optional<std::size_t> dtype_bytes(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return d.size;
  return std::nullopt;
}

// A tensor name for a one-line message: quoted, control characters escaped.
std::string quote_name(std::string_view name) {
  std::string out = "'";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Keeps a library's message on one line.
std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

[[noreturn]] void fail(const fs::path& path, const std::string& problem) {
  throw Error(path.string() + ": " + problem, ErrorCategory::Io);
}

// The file's bytes: the whole file mapped read-only (unmapped on destruction), or a copy of
// bytes given in memory.
class Mapping {
 public:
  Mapping() = default;
  explicit Mapping(const fs::path& path);
  Mapping(const fs::path& name, std::span<const std::byte> bytes);
  ~Mapping() { release(); }
  Mapping(Mapping&& other) noexcept { *this = std::move(other); }
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      release();
      base_ = std::exchange(other.base_, nullptr);
      size_ = std::exchange(other.size_, 0);
      copy_ = std::move(other.copy_);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  [[nodiscard]] const std::byte* data() const {
    return base_ != nullptr ? static_cast<const std::byte*>(base_) : copy_.data();
  }
  [[nodiscard]] std::uint64_t size() const { return base_ != nullptr ? size_ : copy_.size(); }

 private:
  void release() {
    if (base_ != nullptr) ::munmap(base_, size_);
    base_ = nullptr;
  }

  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::vector<std::byte> copy_;
};

// A file descriptor closed on scope exit.
struct FdGuard {
  int fd;
  ~FdGuard() { ::close(fd); }
};

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

Mapping::Mapping(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open: " + errno_text(errno));
  FdGuard guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  size_ = static_cast<std::size_t>(st.st_size);
  // Checked here because mmap cannot map an empty file.
  if (size_ < 8) fail(path, "truncated: " + std::to_string(size_) + " bytes, fewer than the 8-byte header length");
  void* base = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (base == MAP_FAILED) fail(path, "cannot map: " + errno_text(errno));
  base_ = base;
}

Mapping::Mapping(const fs::path& name, std::span<const std::byte> bytes) : copy_(bytes.begin(), bytes.end()) {
  if (copy_.size() < 8)
    fail(name, "truncated: " + std::to_string(copy_.size()) + " bytes, fewer than the 8-byte header length");
}

// One validated header entry.
struct Entry {
  std::string dtype;
  std::vector<std::int64_t> dims;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

// Parses the header, rejecting duplicate keys at any depth: nlohmann::json would silently
// keep the last one, and a duplicated tensor name makes the file ambiguous.
json parse_header(const fs::path& path, std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  bool duplicate_is_tensor = false;
  auto track_keys = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !duplicate) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) {
        duplicate = key;
        duplicate_is_tensor = open_objects.size() == 1;
      }
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), track_keys);
  } catch (const json::exception& e) {
    fail(path, "header is not valid JSON: " + one_line(e.what()));
  }
  if (duplicate)
    fail(path, std::string("header has a duplicate ") + (duplicate_is_tensor ? "tensor name " : "key ") +
                   quote_name(*duplicate));
  if (!header.is_object()) fail(path, "header is not a JSON object");
  return header;
}

// A JSON value that must be a non-negative integer fitting in int64; nullopt otherwise.
std::optional<std::uint64_t> non_negative_integer(const json& value) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return v;
    return std::nullopt;
  }
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return value.get<std::uint64_t>();
  return std::nullopt;
}

std::string parse_dtype(const fs::path& path, const std::string& where, const json& entry) {
  const auto it = entry.find("dtype");
  if (it == entry.end()) fail(path, where + ": missing dtype");
  if (!it->is_string()) fail(path, where + ": dtype " + it->dump() + " is not a string");
  const auto& name = it->get_ref<const std::string&>();
  if (!dtype_bytes(name)) fail(path, where + ": unknown dtype " + quote_name(name));
  return name;
}

std::vector<std::int64_t> parse_shape(const fs::path& path, const std::string& where, const json& entry) {
  const auto it = entry.find("shape");
  if (it == entry.end()) fail(path, where + ": missing shape");
  if (!it->is_array()) fail(path, where + ": shape " + it->dump() + " is not an array");
  std::vector<std::int64_t> dims;
  for (const auto& d : *it) {
    const auto v = non_negative_integer(d);
    if (!v) fail(path, where + ": shape " + it->dump() + " has a dimension that is not a non-negative integer");
    dims.push_back(static_cast<std::int64_t>(*v));
  }
  return dims;
}

std::pair<std::uint64_t, std::uint64_t> parse_offsets(const fs::path& path, const std::string& where,
                                                      const json& entry, std::uint64_t data_bytes) {
  const auto it = entry.find("data_offsets");
  if (it == entry.end()) fail(path, where + ": missing data_offsets");
  const auto bad = [&](const std::string& problem) { fail(path, where + ": data_offsets " + it->dump() + " " + problem); };
  if (!it->is_array() || it->size() != 2) bad("is not a [begin, end] pair");
  const auto begin = non_negative_integer((*it)[0]);
  const auto end = non_negative_integer((*it)[1]);
  if (!begin || !end) bad("are not non-negative integers");
  if (*begin > *end) bad("have begin after end");
  if (*end > data_bytes)
    bad("run past the end of the data section (" + std::to_string(data_bytes) + " bytes; truncated file?)");
  return {*begin, *end};
}

// Checks that shape × element size (overflow-safe) equals the byte range.
void check_byte_count(const fs::path& path, const std::string& where, const json& entry, const Entry& e) {
  std::uint64_t bytes = *dtype_bytes(e.dtype);
  bool overflow = false;
  for (auto d : e.dims) overflow = overflow || __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes);
  if (overflow) fail(path, where + ": shape " + entry["shape"].dump() + " is too large");
  if (bytes != e.end - e.begin)
    fail(path, where + ": shape " + entry["shape"].dump() + " of " + e.dtype + " needs " + std::to_string(bytes) +
                   " bytes but data_offsets " + entry["data_offsets"].dump() + " hold " +
                   std::to_string(e.end - e.begin));
}

Entry parse_entry(const fs::path& path, const std::string& name, const json& entry, std::uint64_t data_bytes) {
  const std::string where = "tensor " + quote_name(name);
  if (!entry.is_object()) fail(path, where + ": entry is not a JSON object");
  Entry e;
  e.dtype = parse_dtype(path, where, entry);
  e.dims = parse_shape(path, where, entry);
  std::tie(e.begin, e.end) = parse_offsets(path, where, entry, data_bytes);
  check_byte_count(path, where, entry, e);
  return e;
}

std::map<std::string, std::string> parse_metadata(const fs::path& path, const json& value) {
  if (!value.is_object()) fail(path, "__metadata__ is not a JSON object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) fail(path, "__metadata__ value for " + quote_name(key) + " is not a string");
    metadata.emplace(key, v.get<std::string>());
  }
  return metadata;
}

std::string range_text(const Entry& e) {
  // Appended piecewise: GCC 12 gives a false -Wrestrict on "[" + std::to_string(...).
  std::string text = "[";
  text += std::to_string(e.begin);
  text += ", ";
  text += std::to_string(e.end);
  text += "]";
  return text;
}

// Float16 bits to float32: subnormals become normal f32 values, inf stays inf, and NaN keeps
// its sign and payload (the quiet bit lands on f32's quiet bit).
float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // ±mantissa × 2^-24, exact in f32.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign != 0 ? -magnitude : magnitude;
  }
  std::uint32_t bits = 0;
  if (exponent == 0x1f) bits = sign | 0x7f800000u | (mantissa << 13);
  else bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  return std::bit_cast<float>(bits);
}

// BFloat16 is the upper half of a float32.
float bf16_to_f32(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

template <class Source, class Convert>
void convert_elements(const std::byte* src, std::size_t count, float* dst, Convert convert) {
  for (std::size_t i = 0; i < count; ++i) {
    Source s;
    std::memcpy(&s, src + i * sizeof(Source), sizeof(Source));
    dst[i] = convert(s);
  }
}

}  // namespace

struct SafetensorsReader::Impl {
  fs::path path;
  Mapping mapping;
  const std::byte* data = nullptr;  // the data section, after the header
  std::map<std::string, Entry, std::less<>> entries;
  std::vector<std::string> names;
  std::map<std::string, std::string> metadata;

  void read_header();
  void check_overlaps();
  [[nodiscard]] const Entry& find(std::string_view name) const;
  [[nodiscard]] Shape loadable_shape(std::string_view name, const Entry& e) const;
};

void SafetensorsReader::Impl::read_header() {
  const std::uint64_t file_bytes = mapping.size();
  const std::uint64_t header_bytes = read_u64_le(mapping.data());
  if (header_bytes > file_bytes - 8)
    fail(path, "header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
                   std::to_string(file_bytes) + " bytes)");
  if (header_bytes > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_bytes) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  const auto* text = reinterpret_cast<const char*>(mapping.data() + 8);
  const json header = parse_header(path, std::string_view(text, header_bytes));
  data = mapping.data() + 8 + header_bytes;
  const std::uint64_t data_bytes = file_bytes - 8 - header_bytes;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) metadata = parse_metadata(path, value);
    else entries.emplace(name, parse_entry(path, name, value, data_bytes));
  }
}

// Ranges may leave holes (lenient) but must not share bytes.
void SafetensorsReader::Impl::check_overlaps() {
  for (const auto& [name, e] : entries) names.push_back(name);
  std::stable_sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    const Entry& ea = entries.find(a)->second;
    const Entry& eb = entries.find(b)->second;
    return std::pair(ea.begin, ea.end) < std::pair(eb.begin, eb.end);
  });
  for (std::size_t i = 1; i < names.size(); ++i) {
    const Entry& prev = entries.find(names[i - 1])->second;
    const Entry& cur = entries.find(names[i])->second;
    if (prev.end > cur.begin)
      fail(path, "tensors " + quote_name(names[i - 1]) + " " + range_text(prev) + " and " + quote_name(names[i]) + " " +
                     range_text(cur) + " overlap");
  }
}

const Entry& SafetensorsReader::Impl::find(std::string_view name) const {
  const auto it = entries.find(name);
  if (it == entries.end()) fail(path, "no tensor named " + quote_name(name));
  return it->second;
}

Shape SafetensorsReader::Impl::loadable_shape(std::string_view name, const Entry& e) const {
  if (e.dims.size() > static_cast<std::size_t>(Shape::kMaxRank))
    fail(path, "tensor " + quote_name(name) + " has rank " + std::to_string(e.dims.size()) + "; at most " +
                   std::to_string(Shape::kMaxRank) + " dimensions are supported");
  return Shape(std::span<const std::int64_t>(e.dims));
}

SafetensorsReader::SafetensorsReader(const fs::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->mapping = Mapping(path);
  impl_->read_header();
  impl_->check_overlaps();
}

SafetensorsReader::SafetensorsReader(std::span<const std::byte> bytes, const fs::path& name)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = name;
  impl_->mapping = Mapping(name, bytes);
  impl_->read_header();
  impl_->check_overlaps();
}

SafetensorsReader::~SafetensorsReader() = default;
SafetensorsReader::SafetensorsReader(SafetensorsReader&&) noexcept = default;
SafetensorsReader& SafetensorsReader::operator=(SafetensorsReader&&) noexcept = default;

const fs::path& SafetensorsReader::path() const { return impl_->path; }
const std::vector<std::string>& SafetensorsReader::names() const { return impl_->names; }
bool SafetensorsReader::contains(std::string_view name) const { return impl_->entries.contains(name); }
const std::map<std::string, std::string>& SafetensorsReader::metadata() const { return impl_->metadata; }

Shape SafetensorsReader::shape(std::string_view name) const {
  return impl_->loadable_shape(name, impl_->find(name));
}

std::string SafetensorsReader::dtype(std::string_view name) const { return impl_->find(name).dtype; }

Tensor SafetensorsReader::load(std::string_view name) const {
  const Entry& e = impl_->find(name);
  Tensor out = Tensor::empty(impl_->loadable_shape(name, e));
  const std::byte* src = impl_->data + e.begin;
  const auto count = static_cast<std::size_t>(out.numel());
  float* dst = out.data<float>();
  if (e.dtype == "F32") std::memcpy(dst, src, count * sizeof(float));
  else if (e.dtype == "F16") convert_elements<std::uint16_t>(src, count, dst, f16_to_f32);
  else if (e.dtype == "BF16") convert_elements<std::uint16_t>(src, count, dst, bf16_to_f32);
  else if (e.dtype == "F64") convert_elements<double>(src, count, dst, [](double v) { return static_cast<float>(v); });
  else
    fail(impl_->path, "tensor " + quote_name(name) + " has dtype " + e.dtype +
                          "; load() reads F32, F16, BF16 and F64 only (load_ids() reads I32 and I64)");
  return out;
}

Tensor SafetensorsReader::load_ids(std::string_view name) const {
  const Entry& e = impl_->find(name);
  if (e.dtype != "I32" && e.dtype != "I64")
    fail(impl_->path, "tensor " + quote_name(name) + " has dtype " + e.dtype + "; load_ids() reads I32 and I64 only");
  Tensor out = Tensor::empty(impl_->loadable_shape(name, e), DType::I32);
  const std::byte* src = impl_->data + e.begin;
  const auto count = static_cast<std::size_t>(out.numel());
  auto* dst = out.data<std::int32_t>();
  if (e.dtype == "I32") {
    std::memcpy(dst, src, count * sizeof(std::int32_t));
    return out;
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::int64_t v = 0;
    std::memcpy(&v, src + i * sizeof(v), sizeof(v));
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
      fail(impl_->path, "tensor " + quote_name(name) + " holds " + std::to_string(v) + " at index " + std::to_string(i) +
                            ", outside the i32 range");
    dst[i] = static_cast<std::int32_t>(v);
  }
  return out;
}

namespace {

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::I32: return "I32";
    case DType::BF16: return "BF16";
  }
  return "?";
}

void check_writable(const fs::path& path, std::span<const std::pair<std::string, Tensor>> tensors) {
  std::set<std::string_view> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) fail(path, "cannot write a tensor named " + quote_name(name) + " (reserved)");
    if (!seen.insert(name).second) fail(path, "duplicate tensor name " + quote_name(name));
    if (!tensor.defined()) fail(path, "tensor " + quote_name(name) + " is undefined");
  }
}

// The JSON header, padded with spaces to a multiple of 8 bytes as the Python library does,
// so the data section starts 8-byte aligned.
std::string make_header(const fs::path& path, std::span<const std::pair<std::string, Tensor>> tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const auto dims = tensor.shape().dims();
    const std::uint64_t end = offset + tensor.nbytes();
    header[name] = {{"dtype", safetensors_dtype(tensor.dtype())},
                    {"shape", std::vector<std::int64_t>(dims.begin(), dims.end())},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path, "cannot encode the header (names and metadata must be UTF-8): " + one_line(e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void write_u64_le(std::ostream& out, std::uint64_t v) {
  std::array<char, 8> bytes{};
  for (auto& b : bytes) {
    b = static_cast<char>(v & 0xffu);
    v >>= 8;
  }
  out.write(bytes.data(), bytes.size());
}

}  // namespace

void write_safetensors(const fs::path& path, std::span<const std::pair<std::string, Tensor>> tensors,
                       const std::map<std::string, std::string>& metadata) {
  check_writable(path, tensors);
  const std::string header = make_header(path, tensors, metadata);
  write_file_atomically(path, [&](std::ostream& out) {
    write_u64_le(out, header.size());
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& [name, tensor] : tensors) {
      // Strided views are packed one at a time to bound the extra memory.
      const Tensor packed = tensor.contiguous();
      const auto* bytes = packed.dtype() == DType::F32   ? static_cast<const void*>(packed.data<float>())
                          : packed.dtype() == DType::I32 ? static_cast<const void*>(packed.data<std::int32_t>())
                                                         : static_cast<const void*>(packed.data<std::uint16_t>());
      out.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(packed.nbytes()));
    }
  });
}

}  // namespace tandem::io
