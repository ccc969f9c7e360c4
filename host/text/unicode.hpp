#pragma once
// Unicode helpers the tokenizers share, all backed by ICU (no hand-written tables): UTF-8
// decoding, general-category predicates, NFD and lowercasing.

#include <cstddef>
#include <string>
#include <string_view>

namespace tandem::text::unicode {

// Code points of @p utf8; ill-formed UTF-8 is a tandem::Error naming @p what and the byte offset.
std::u32string decode_utf8(std::string_view utf8, std::string_view what);
std::string encode_utf8(std::u32string_view text);
void append_utf8(char32_t c, std::string& out);
// Bytes @p c takes in UTF-8.
std::size_t utf8_length(char32_t c);
// @p bytes as UTF-8 with each ill-formed subsequence replaced by U+FFFD, as Rust's
// String::from_utf8_lossy does (so decoded text matches Hugging Face's).
std::string utf8_lossy(std::string_view bytes);

// General categories (ICU's character database).
bool is_letter(char32_t c);       // L*
bool is_number(char32_t c);       // N*
bool is_punctuation(char32_t c);  // P*
bool is_other(char32_t c);        // C*: Cc, Cf, Cs, Co, Cn
bool is_nonspacing_mark(char32_t c);  // Mn
// The White_Space property: what Rust's char::is_whitespace and Oniguruma's \s match.
bool is_whitespace(char32_t c);

// Canonical decomposition (NFD) of @p text.
std::u32string nfd(std::u32string_view text);
// Full lowercase mapping of @p c on its own (no context: a lone capital sigma maps to σ),
// appended to @p out; one code point may give several (U+0130 gives "i̇").
void append_lowercase(char32_t c, std::u32string& out);

}  // namespace tandem::text::unicode
