#include "text/unicode.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <limits>

#include "tandem/error.hpp"

namespace tandem::text::unicode {
namespace {

// ICU indexes strings with int32_t.
std::int32_t icu_length(std::size_t size, std::string_view what) {
  if (size > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(std::string(what) + ": text longer than 2 GiB");
  }
  return static_cast<std::int32_t>(size);
}

bool in_categories(char32_t c, std::uint32_t mask) {
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & mask) != 0;
}

}  // namespace

std::u32string decode_utf8(std::string_view utf8, std::string_view what) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(utf8.data());
  const std::int32_t length = icu_length(utf8.size(), what);
  std::u32string out;
  out.reserve(utf8.size());
  for (std::int32_t i = 0; i < length;) {
    const std::int32_t start = i;
    UChar32 c = 0;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) {
      throw Error(std::string(what) + ": ill-formed UTF-8 at byte " + std::to_string(start));
    }
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

void append_utf8(char32_t c, std::string& out) {
  std::uint8_t buffer[U8_MAX_LENGTH];
  std::int32_t length = 0;
  U8_APPEND_UNSAFE(buffer, length, static_cast<UChar32>(c));
  out.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(length));
}

std::size_t utf8_length(char32_t c) {
  return static_cast<std::size_t>(U8_LENGTH(static_cast<UChar32>(c)));
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char32_t c : text) append_utf8(c, out);
  return out;
}

std::string utf8_lossy(std::string_view bytes) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::int32_t length = icu_length(bytes.size(), "decode");
  std::string out;
  out.reserve(bytes.size());
  for (std::int32_t i = 0; i < length;) {
    const std::int32_t start = i;
    UChar32 c = 0;
    // Since ICU 60, U8_NEXT skips exactly one maximal ill-formed subpart, as Rust does.
    U8_NEXT(data, i, length, c);
    if (c < 0) {
      append_utf8(U'\uFFFD', out);
    } else {
      out.append(bytes.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(i - start)));
    }
  }
  return out;
}

bool is_letter(char32_t c) { return in_categories(c, U_GC_L_MASK); }
bool is_number(char32_t c) { return in_categories(c, U_GC_N_MASK); }
bool is_punctuation(char32_t c) { return in_categories(c, U_GC_P_MASK); }
bool is_other(char32_t c) { return in_categories(c, U_GC_C_MASK); }
bool is_nonspacing_mark(char32_t c) { return in_categories(c, U_GC_MN_MASK); }
bool is_whitespace(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)) != 0; }

std::u32string nfd(std::u32string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) {
    throw Error(std::string("ICU: cannot load NFD data: ") + u_errorName(status), ErrorCategory::Internal);
  }
  icu::UnicodeString source;
  for (const char32_t c : text) source.append(static_cast<UChar32>(c));
  const icu::UnicodeString result = normalizer->normalize(source, status);
  if (U_FAILURE(status)) {
    throw Error(std::string("ICU: NFD failed: ") + u_errorName(status), ErrorCategory::Internal);
  }
  std::u32string out;
  out.reserve(static_cast<std::size_t>(result.length()));
  for (std::int32_t i = 0; i < result.length();) {
    const UChar32 c = result.char32At(i);
    out.push_back(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

void append_lowercase(char32_t c, std::u32string& out) {
  if (c < 0x80) {
    out.push_back(c >= U'A' && c <= U'Z' ? c + (U'a' - U'A') : c);
    return;
  }
  UChar source[U16_MAX_LENGTH];
  std::int32_t source_length = 0;
  U16_APPEND_UNSAFE(source, source_length, static_cast<UChar32>(c));
  // Full case mappings produce at most three code points (SpecialCasing.txt).
  UChar lowered[8];
  UErrorCode status = U_ZERO_ERROR;
  const std::int32_t length = u_strToLower(lowered, 8, source, source_length, "", &status);
  if (U_FAILURE(status)) {
    throw Error(std::string("ICU: lowercasing failed: ") + u_errorName(status), ErrorCategory::Internal);
  }
  for (std::int32_t i = 0; i < length;) {
    UChar32 lc = 0;
    U16_NEXT_UNSAFE(lowered, i, lc);
    out.push_back(static_cast<char32_t>(lc));
  }
}

}  // namespace tandem::text::unicode
