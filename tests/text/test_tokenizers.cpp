// Tokenizers against Hugging Face `tokenizers` (fixtures made by
// tests/fixtures/make_tokenizer_fixtures.py) and against small hand-derived cases.

#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tandem/error.hpp"
#include "text/bpe.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"
#include "text/wordpiece.hpp"

namespace fs = std::filesystem;
using tandem::Error;
using tandem::ErrorCategory;
using tandem::text::load_tokenizer;
using tandem::text::Tokenizer;

namespace {

const fs::path kFixtures = fs::path(TANDEM_FIXTURES) / "tokenizers";

nlohmann::json expected() {
  std::ifstream in(kFixtures / "expected.json");
  return nlohmann::json::parse(in);
}

std::vector<std::int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<std::int32_t>>(); }

// Printable form of a test string for failure messages.
std::string shown(const std::string& text) { return nlohmann::json(text).dump(); }

// A fresh directory per test, removed afterwards.
class TokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tandem_text_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }
  // A tiny valid byte-level BPE whose merges.txt body is @p merges.
  void write_bpe(const std::string& merges) const {
    write("vocab.json", R"({"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5})");
    write("merges.txt", "#version: 0.2\n" + merges);
  }
  // The message of the tandem::Error load_tokenizer throws; fails the test if it does not.
  std::string load_error(bool lowercase = true) const {
    try {
      (void)load_tokenizer(dir_, lowercase);
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::Io) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message is not one line";
      return e.what();
    }
    ADD_FAILURE() << "load_tokenizer accepted malformed files in " << dir_;
    return {};
  }

  fs::path dir_;
};

std::vector<std::string> bpe_pieces(const std::string& text) {
  const std::u32string chars = tandem::text::unicode::decode_utf8(text, "test");
  std::vector<std::string> pieces;
  for (const auto& [begin, end] : tandem::text::gpt2_pretokenize(chars)) {
    const std::string utf8 = tandem::text::unicode::encode_utf8(chars.substr(begin, end - begin));
    pieces.push_back(tandem::text::byte_level_string(utf8));
  }
  return pieces;
}

std::vector<std::string> wordpiece_pieces(const std::string& text, bool lowercase) {
  std::vector<std::string> pieces;
  for (const std::u32string& word : tandem::text::bert_words(text, lowercase)) {
    pieces.push_back(tandem::text::unicode::encode_utf8(word));
  }
  return pieces;
}

// --- Hugging Face parity -------------------------------------------------------------------

TEST(BpeFixture, PreTokensMatchHuggingFace) {
  const nlohmann::json cases = expected()["bpe"]["cases"];
  ASSERT_GT(cases.size(), 300U);
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(bpe_pieces(text), c["pieces"].get<std::vector<std::string>>()) << shown(text);
  }
}

TEST(BpeFixture, IdsMatchHuggingFace) {
  const auto tok = load_tokenizer(kFixtures / "bpe");
  const nlohmann::json cases = expected()["bpe"]["cases"];
  ASSERT_GT(cases.size(), 300U);
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(tok->encode(text), ids_of(c["ids"])) << shown(text);
  }
}

TEST(BpeFixture, DecodeInvertsEncode) {
  const auto tok = load_tokenizer(kFixtures / "bpe");
  const nlohmann::json cases = expected()["bpe"]["cases"];
  ASSERT_GT(cases.size(), 300U);
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << shown(text);
    EXPECT_EQ(tok->decode(ids_of(c["ids"])), c["decoded"].get<std::string>()) << shown(text);
  }
}

TEST(BpeFixture, VocabSizeAndSpecialTokens) {
  const auto tok = load_tokenizer(kFixtures / "bpe");
  const nlohmann::json e = expected()["bpe"];
  EXPECT_EQ(tok->vocab_size(), e["vocab_size"].get<std::int32_t>());
  ASSERT_TRUE(tok->special().bos.has_value());
  EXPECT_EQ(*tok->special().bos, e["special"]["bos"].get<std::int32_t>());
  EXPECT_EQ(tok->special().eos, tok->special().bos);
  EXPECT_FALSE(tok->special().unk.has_value());
  EXPECT_FALSE(tok->special().cls.has_value());
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{*tok->special().eos}), "<|endoftext|>");
}

void expect_wordpiece_matches(const char* section, bool lowercase) {
  const auto tok = load_tokenizer(kFixtures / "wordpiece", lowercase);
  const nlohmann::json e = expected()[section];
  EXPECT_EQ(tok->vocab_size(), e["vocab_size"].get<std::int32_t>());
  ASSERT_GT(e["cases"].size(), 300U);
  for (const auto& c : e["cases"]) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(wordpiece_pieces(text, lowercase), c["pieces"].get<std::vector<std::string>>()) << shown(text);
    EXPECT_EQ(tok->encode(text), ids_of(c["ids"])) << shown(text);
    EXPECT_EQ(tok->decode(ids_of(c["ids"])), c["decoded"].get<std::string>()) << shown(text);
  }
}

TEST(WordPieceFixture, LowercaseMatchesHuggingFace) { expect_wordpiece_matches("wordpiece_uncased", true); }

TEST(WordPieceFixture, CasedMatchesHuggingFace) { expect_wordpiece_matches("wordpiece_cased", false); }

TEST(WordPieceFixture, SpecialTokens) {
  const auto tok = load_tokenizer(kFixtures / "wordpiece");
  const nlohmann::json s = expected()["wordpiece_uncased"]["special"];
  EXPECT_EQ(tok->special().cls, s["cls"].get<std::int32_t>());
  EXPECT_EQ(tok->special().sep, s["sep"].get<std::int32_t>());
  EXPECT_EQ(tok->special().pad, s["pad"].get<std::int32_t>());
  EXPECT_EQ(tok->special().unk, s["unk"].get<std::int32_t>());
  EXPECT_EQ(tok->special().mask, s["mask"].get<std::int32_t>());
  EXPECT_FALSE(tok->special().bos.has_value());
  EXPECT_FALSE(tok->special().eos.has_value());
}

// --- Hand-derived cases ----------------------------------------------------------------------

TEST(ByteLevel, ByteTableIsGpt2s) {
  // Printable Latin-1 maps to itself; the 68 others map to U+0100.. in byte order:
  // 0x00..0x20 are the first 33, so space is U+0120; 0x7F..0xA0 follow, 0xAD is last (U+0143).
  EXPECT_EQ(tandem::text::byte_to_unicode('A'), U'A');
  EXPECT_EQ(tandem::text::byte_to_unicode(0xE9), U'\u00E9');
  EXPECT_EQ(tandem::text::byte_to_unicode(0x00), U'\u0100');
  EXPECT_EQ(tandem::text::byte_to_unicode('\n'), U'\u010A');
  EXPECT_EQ(tandem::text::byte_to_unicode(' '), U'\u0120');
  EXPECT_EQ(tandem::text::byte_to_unicode(0x7F), U'\u0121');
  EXPECT_EQ(tandem::text::byte_to_unicode(0xAD), U'\u0143');
  for (std::uint32_t b = 0; b < 256; ++b) {
    const auto c = tandem::text::byte_to_unicode(static_cast<std::uint8_t>(b));
    EXPECT_EQ(tandem::text::unicode_to_byte(c), b);
  }
  EXPECT_FALSE(tandem::text::unicode_to_byte(U' ').has_value());
  EXPECT_FALSE(tandem::text::unicode_to_byte(U'\u0144').has_value());
}

TEST(ByteLevel, PreTokenizerHandCases) {
  using V = std::vector<std::string>;
  // Spaces shown as Ġ (U+0120), tab as ĉ (U+0109), newline as Ċ (U+010A).
  EXPECT_EQ(bpe_pieces("a  b"), (V{"a", "Ġ", "Ġb"}));
  EXPECT_EQ(bpe_pieces("a\tb"), (V{"a", "ĉ", "b"}));
  EXPECT_EQ(bpe_pieces("a \n"), (V{"a", "ĠĊ"}));
  EXPECT_EQ(bpe_pieces("x's 'd"), (V{"x", "'s", "Ġ'", "d"}));
  EXPECT_EQ(bpe_pieces("ab12!?"), (V{"ab", "12", "!?"}));
  EXPECT_EQ(bpe_pieces(""), V{});
}

TEST_F(TokenizerFiles, BpeAppliesMergesByRank) {
  // "abc": with "b c" ranked first the pair (b, c) merges before (a, b) can.
  write_bpe("b c\na b\n");
  const auto low_bc = load_tokenizer(dir_);
  EXPECT_EQ(low_bc->encode("abc"), (std::vector<std::int32_t>{0, 4}));
  write_bpe("a b\nb c\nab c\n");
  const auto low_ab = load_tokenizer(dir_);
  EXPECT_EQ(low_ab->encode("abc"), (std::vector<std::int32_t>{5}));
  EXPECT_EQ(low_ab->encode("abab c"), (std::vector<std::int32_t>{3, 3, 2}));  // " c": space not in vocab
  EXPECT_EQ(low_ab->vocab_size(), 6);
  EXPECT_FALSE(low_ab->special().eos.has_value());
}

TEST_F(TokenizerFiles, BpeMergesLeftmostFirst) {
  write("vocab.json", R"({"a": 0, "aa": 1})");
  write("merges.txt", "a a\n");
  EXPECT_EQ(load_tokenizer(dir_)->encode("aaa"), (std::vector<std::int32_t>{1, 0}));
}

TEST_F(TokenizerFiles, BpeAcceptsCrlfAndVersionLines) {
  write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  write("merges.txt", "#version: 0.2\r\na b\r\n#version again\n");
  EXPECT_EQ(load_tokenizer(dir_)->encode("ab"), (std::vector<std::int32_t>{2}));
}

TEST(ByteLevel, DecodeReplacesBrokenUtf8) {
  const auto tok = load_tokenizer(kFixtures / "bpe");
  // U+01C5 (absent from the training corpus) is two bytes, one token each; the first byte alone
  // is an ill-formed sequence and decodes to U+FFFD, as Rust's from_utf8_lossy does.
  const auto ids = tok->encode("\xC7\x85");
  ASSERT_EQ(ids.size(), 2U);
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{ids[0]}), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{ids[1], ids[0]}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{ids[0], ids[1]}), "\xC7\x85");
}

TEST(ByteLevel, BadInputsAreErrors) {
  const auto tok = load_tokenizer(kFixtures / "bpe");
  EXPECT_THROW((void)tok->encode("bad \xFF byte"), Error);
  EXPECT_THROW((void)tok->decode(std::vector<std::int32_t>{tok->vocab_size()}), Error);
  EXPECT_THROW((void)tok->decode(std::vector<std::int32_t>{-1}), Error);
}

TEST_F(TokenizerFiles, WordPieceGreedyLongestMatch) {
  // BERT's documented example: "unaffable" -> un ##aff ##able.
  write("vocab.txt", "[PAD]\n[UNK]\nun\n##aff\n##able\n##a\nu\n,\n");
  const auto tok = load_tokenizer(dir_);
  EXPECT_EQ(tok->encode("unaffable"), (std::vector<std::int32_t>{2, 3, 4}));
  EXPECT_EQ(tok->encode("UNAFFABLE, unx"), (std::vector<std::int32_t>{2, 3, 4, 7, 1}));
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{2, 3, 4, 7, 1}), "unaffable, [UNK]");
  EXPECT_EQ(tok->special().pad, 0);
  EXPECT_EQ(tok->special().unk, 1);
  EXPECT_FALSE(tok->special().cls.has_value());
  EXPECT_EQ(tok->vocab_size(), 8);
  // 101 characters is one too many even though "u" + 100 x "##a" would match.
  EXPECT_EQ(tok->encode("u" + std::string(100, 'a')), (std::vector<std::int32_t>{1}));
  EXPECT_EQ(tok->encode("u" + std::string(99, 'a')).size(), 100U);
  EXPECT_THROW((void)tok->decode(std::vector<std::int32_t>{8}), Error);
  EXPECT_THROW((void)tok->encode("\xC3"), Error);
}

TEST(WordPieceBasic, NormalisationHandCases) {
  using V = std::vector<std::string>;
  // NFD + Mn removal turns "É" into "e"; CJK ideographs become words; U+200B (Cf) is dropped;
  // "$" is ASCII punctuation though Unicode calls it a symbol.
  EXPECT_EQ(wordpiece_pieces("Éte\u200Bst 北京$5", true), (V{"etest", "北", "京", "$", "5"}));
  EXPECT_EQ(wordpiece_pieces("Éte\u200Bst", false), (V{"Étest"}));
  EXPECT_EQ(wordpiece_pieces("a\u3000b\u00A0c", true), (V{"a", "b", "c"}));
}

// --- Malformed files ------------------------------------------------------------------------

TEST_F(TokenizerFiles, MissingFiles) {
  EXPECT_NE(load_error().find(dir_.string()), std::string::npos);
  write("vocab.json", R"({"a": 0})");
  EXPECT_NE(load_error().find("merges.txt"), std::string::npos);
  fs::remove(dir_ / "vocab.json");
  write("merges.txt", "");
  EXPECT_NE(load_error().find("vocab.json"), std::string::npos);
  try {
    (void)load_tokenizer(dir_ / "nonexistent");
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nonexistent"), std::string::npos);
  }
}

TEST_F(TokenizerFiles, VocabJsonMustMapTokensToDistinctIds) {
  write("merges.txt", "");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{\"a\": 0", "not valid JSON"},
      {"[\"a\", \"b\"]", "object"},
      {"{}", "empty"},
      {R"({"a": "0"})", "not an integer"},
      {R"({"a": 1.5})", "not an integer"},
      {R"({"a": -1})", "out of range"},
      {R"({"a": 2147483648})", "out of range"},
      {R"({"a": 0, "b": 0})", "id 0"},
      {"{\"\xFF\": 0}", "not valid JSON"},
  };
  for (const auto& [content, problem] : bad) {
    write("vocab.json", content);
    const std::string message = load_error();
    EXPECT_NE(message.find("vocab.json"), std::string::npos) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << content << " -> " << message;
  }
}

TEST_F(TokenizerFiles, MergeLinesMustBeTwoKnownTokens) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"a b c\n", "line 2: expected two tokens"},
      {"a b\n\nb c\n", "line 3: expected two tokens"},
      {"a  b\n", "line 2: expected two tokens"},
      {"ab\n", "line 2: expected two tokens"},
      {"a x\n", "line 2: token \"x\" is not in vocab.json"},
      {"a b\nc a\n", "line 3: token \"ca\" is not in vocab.json"},
      {"a \n", "line 2: token \"\" is not in vocab.json"},
  };
  for (const auto& [merges, problem] : bad) {
    write_bpe(merges);
    const std::string message = load_error();
    EXPECT_NE(message.find("merges.txt"), std::string::npos) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << shown(merges) << " -> " << message;
  }
}

TEST_F(TokenizerFiles, VocabTxtProblems) {
  write("vocab.txt", "");
  EXPECT_NE(load_error().find("vocab.txt: the vocabulary is empty"), std::string::npos);
  write("vocab.txt", "[CLS]\nhello\n");
  EXPECT_NE(load_error().find("vocab.txt: no [UNK] token"), std::string::npos);
  write("vocab.txt", "[UNK]\nbad\xFFtoken\n");
  EXPECT_NE(load_error().find("line 2: ill-formed UTF-8"), std::string::npos);
}

TEST_F(TokenizerFiles, VocabTxtTrimsLineEnds) {
  write("vocab.txt", "[UNK]\r\nhello  \nworld\t\n");
  const auto tok = load_tokenizer(dir_);
  EXPECT_EQ(tok->encode("hello world"), (std::vector<std::int32_t>{1, 2}));
  EXPECT_EQ(tok->vocab_size(), 3);
}

}  // namespace
