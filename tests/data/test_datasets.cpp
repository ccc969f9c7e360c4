// Datasets, example windows and batching (host/data). Input files are written by each test
// into its own temporary directory; expected values are derived by hand in the comments,
// except shuffle orders, which come from an independent Python model of the documented
// algorithm (tests/fixtures/data/make_shuffle_orders.py).

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "tandem/error.hpp"
#include "text/tokenizer.hpp"

namespace fs = std::filesystem;
using tandem::Error;
using tandem::ErrorCategory;
using tandem::Tensor;
using namespace tandem::data;

namespace {

using Ids = std::vector<std::int32_t>;

// Whitespace split over a fixed word list; unknown words map to [UNK].
class WordTokenizer final : public tandem::text::Tokenizer {
 public:
  static constexpr std::int32_t kPad = 0, kUnk = 1, kCls = 2, kSep = 3, kEos = 4, kThe = 5, kCat = 6, kSat = 7,
                                kDog = 8, kRan = 9, kBig = 10;

  explicit WordTokenizer(bool with_eos) {
    special_.pad = kPad;
    special_.unk = kUnk;
    special_.cls = kCls;
    special_.sep = kSep;
    if (with_eos) special_.eos = kEos;
  }

  std::vector<std::int32_t> encode(std::string_view text) const override {
    std::vector<std::int32_t> ids;
    std::size_t pos = 0;
    while ((pos = text.find_first_not_of(" \t\r\n", pos)) != std::string_view::npos) {
      const std::size_t end = text.find_first_of(" \t\r\n", pos);
      const std::string word(text.substr(pos, end - pos));
      std::int32_t id = kUnk;
      for (std::size_t i = 0; i < kWords.size(); ++i) {
        if (kWords[i] == word) id = static_cast<std::int32_t>(i);
      }
      ids.push_back(id);
      pos = end;
    }
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids) const override {
    std::string out;
    for (const std::int32_t id : ids) out += (out.empty() ? "" : " ") + kWords.at(static_cast<std::size_t>(id));
    return out;
  }

  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(kWords.size()); }
  const tandem::text::SpecialTokens& special() const override { return special_; }

 private:
  inline static const std::vector<std::string> kWords{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "<eos>", "the",
                                                      "cat",   "sat",   "dog",   "ran",   "big"};
  tandem::text::SpecialTokens special_;
};

constexpr std::int32_t kVocab = 11;

Ids to_ids(const Tensor& t) {
  const auto* p = t.data<std::int32_t>();
  return {p, p + t.numel()};
}

std::vector<float> to_floats(const Tensor& t) {
  const auto* p = t.data<float>();
  return {p, p + t.numel()};
}

void put_le(std::string& bytes, std::uint32_t value, int size) {
  for (int i = 0; i < size; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xFF);
}

// An llm.c shard: 256 int32 header (magic, version, count, zeros) then the tokens.
std::string llmc_shard(std::int32_t magic, std::int32_t version, std::int32_t count, const std::vector<std::uint32_t>& tokens,
                       int token_bytes) {
  std::string bytes;
  put_le(bytes, static_cast<std::uint32_t>(magic), 4);
  put_le(bytes, static_cast<std::uint32_t>(version), 4);
  put_le(bytes, static_cast<std::uint32_t>(count), 4);
  for (int i = 3; i < 256; ++i) put_le(bytes, 0, 4);
  for (const std::uint32_t t : tokens) put_le(bytes, t, token_bytes);
  return bytes;
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("tandem_data_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& content) const {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  LoadOptions options(std::int32_t vocab = kVocab) const { return LoadOptions{vocab, &tokenizer_, false, 0}; }
  LoadOptions label_options(std::int32_t num_labels = 0) const { return LoadOptions{kVocab, &tokenizer_, true, num_labels}; }

  // The load fails with a one-line Io error containing every piece of @p parts.
  static void expect_error(const fs::path& path, const LoadOptions& opts, const std::vector<std::string>& parts,
                           ErrorCategory category = ErrorCategory::Io) {
    try {
      (void)load_dataset(path, opts);
      ADD_FAILURE() << "no error for " << path;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_EQ(e.category(), category) << what;
      for (const std::string& part : parts) EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
    }
  }

  fs::path dir_;
  WordTokenizer tokenizer_{true};
};

// ---- formats ----------------------------------------------------------------------------

TEST_F(DataTest, FormatFollowsExtension) {
  EXPECT_EQ(format_of("a/b.txt"), Format::Text);
  EXPECT_EQ(format_of("b.jsonl"), Format::Jsonl);
  EXPECT_EQ(format_of("b.ids"), Format::Ids);
  EXPECT_EQ(format_of("train.bin"), Format::Bin);
  const fs::path csv = write("x.csv", "1 2 3\n");
  expect_error(csv, options(), {csv.string(), ".csv"}, ErrorCategory::InvalidArgument);
}

TEST_F(DataTest, TextJoinsDocumentsWithEos) {
  // Documents "the cat\nsat" (line 1) and "the dog ran" (line 6); whitespace-only line 4.
  const fs::path path = write("a.txt", "the cat\nsat\n\n  \n\nthe dog ran\n");
  const Dataset d = load_dataset(path, options());
  ASSERT_EQ(d.sequences.size(), 1u);
  using W = WordTokenizer;
  EXPECT_EQ(d.sequences[0], (Ids{W::kThe, W::kCat, W::kSat, W::kEos, W::kThe, W::kDog, W::kRan}));
  EXPECT_TRUE(d.labels.empty());
}

TEST_F(DataTest, TextWithoutEosIsOneStream) {
  const WordTokenizer no_eos(false);
  const fs::path path = write("a.txt", "the cat\r\n\r\nthe dog\n");
  const Dataset d = load_dataset(path, LoadOptions{kVocab, &no_eos, false, 0});
  ASSERT_EQ(d.sequences.size(), 1u);
  using W = WordTokenizer;
  EXPECT_EQ(d.sequences[0], (Ids{W::kThe, W::kCat, W::kThe, W::kDog}));
}

TEST_F(DataTest, TextIdOutsideVocabularyNamesDocumentLine) {
  // "big" is id 10; a model vocabulary of 10 does not hold it. Its document starts on line 3.
  const fs::path path = write("a.txt", "the cat\n\nthe\nbig dog\n");
  expect_error(path, options(10), {path.string() + ":3:", "token id 10", "[0, 10)"});
}

TEST_F(DataTest, TextNeedsTokenizer) {
  const fs::path path = write("a.txt", "the cat\n");
  expect_error(path, LoadOptions{kVocab, nullptr, false, 0}, {path.string(), "tokenizer"}, ErrorCategory::InvalidArgument);
}

TEST_F(DataTest, JsonlSequencesOnePerLine) {
  const fs::path path = write("a.jsonl", "{\"text\": \"the cat\"}\n\n{\"text\": \"dog ran big\", \"label\": 1}\n{\"text\": \"\"}\n");
  const Dataset d = load_dataset(path, options());
  using W = WordTokenizer;
  ASSERT_EQ(d.sequences.size(), 3u);
  EXPECT_EQ(d.sequences[0], (Ids{W::kThe, W::kCat}));
  EXPECT_EQ(d.sequences[1], (Ids{W::kDog, W::kRan, W::kBig}));
  EXPECT_TRUE(d.sequences[2].empty());
  EXPECT_TRUE(d.labels.empty());
}

TEST_F(DataTest, JsonlLabels) {
  const fs::path path = write("a.jsonl", "{\"text\": \"the cat\", \"label\": 2}\n{\"label\": 0, \"text\": \"dog\"}\n");
  const Dataset d = load_dataset(path, label_options(3));
  EXPECT_EQ(d.labels, (Ids{2, 0}));
  ASSERT_EQ(d.sequences.size(), 2u);
  EXPECT_EQ(d.sequences[1], (Ids{WordTokenizer::kDog}));
}

TEST_F(DataTest, JsonlMalformedLinesNameFileAndLine) {
  const std::string good = "{\"text\": \"the\", \"label\": 0}\n";
  struct Case {
    std::string line;
    std::string message;
  };
  const std::vector<Case> cases{
      {"{\"text\": \"the\"", "invalid JSON"},
      {"[\"the\"]", "expected a JSON object"},
      {"{\"label\": 1}", "missing \"text\""},
      {"{\"text\": 5, \"label\": 1}", "\"text\" is not a string"},
      {"{\"text\": \"the\"}", "missing \"label\""},
      {"{\"text\": \"the\", \"label\": 1.5}", "\"label\" is not an integer"},
      {"{\"text\": \"the\", \"label\": \"1\"}", "\"label\" is not an integer"},
      {"{\"text\": \"the\", \"label\": 3}", "label 3 out of range [0, 3)"},
      {"{\"text\": \"the\", \"label\": -1}", "label -1 out of range"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].line);
    // The bad line is line 3: a good line, a blank line, then the bad one.
    const fs::path path = write("bad" + std::to_string(i) + ".jsonl", good + "\n" + cases[i].line + "\n" + good);
    expect_error(path, label_options(3), {path.string() + ":3:", cases[i].message});
  }
}

TEST_F(DataTest, JsonlIdOutsideVocabulary) {
  const fs::path path = write("a.jsonl", "{\"text\": \"the\"}\n{\"text\": \"the big\"}\n");
  expect_error(path, options(10), {path.string() + ":2:", "token id 10"});
}

TEST_F(DataTest, LabelsNeedJsonl) {
  const fs::path path = write("a.ids", "1 2\n");
  expect_error(path, label_options(), {path.string(), "labels"}, ErrorCategory::InvalidArgument);
}

TEST_F(DataTest, IdsOneSequencePerLine) {
  const fs::path path = write("a.ids", "1 2  3\r\n\n\t10\n4 5");
  const Dataset d = load_dataset(path, LoadOptions{kVocab, nullptr, false, 0});
  ASSERT_EQ(d.sequences.size(), 3u);
  EXPECT_EQ(d.sequences[0], (Ids{1, 2, 3}));
  EXPECT_EQ(d.sequences[1], (Ids{10}));
  EXPECT_EQ(d.sequences[2], (Ids{4, 5}));
}

TEST_F(DataTest, IdsMalformedNameFileLineAndId) {
  const LoadOptions opts{kVocab, nullptr, false, 0};
  const fs::path word = write("a.ids", "1 2\n3 x 4\n");
  expect_error(word, opts, {word.string() + ":2:", "not an integer token id: 'x'"});
  const fs::path mixed = write("b.ids", "1 2\n\n3 4a\n");
  expect_error(mixed, opts, {mixed.string() + ":3:", "'4a'"});
  const fs::path high = write("c.ids", "1\n2\n3 11\n");
  expect_error(high, opts, {high.string() + ":3:", "token id 11 out of range [0, 11)"});
  const fs::path negative = write("d.ids", "-1 2\n");
  expect_error(negative, opts, {negative.string() + ":1:", "token id -1"});
  const fs::path huge = write("e.ids", "5\n99999999999999999999999\n");
  expect_error(huge, opts, {huge.string() + ":2:", "99999999999999999999999 out of range"});
}

TEST_F(DataTest, BinGpt2Shard) {
  const fs::path path = write("a.bin", llmc_shard(20240520, 1, 4, {4, 0, 10, 7}, 2));
  const Dataset d = load_dataset(path, LoadOptions{kVocab, nullptr, false, 0});
  ASSERT_EQ(d.sequences.size(), 1u);
  EXPECT_EQ(d.sequences[0], (Ids{4, 0, 10, 7}));
}

TEST_F(DataTest, BinReadsLittleEndianUint16) {
  // 0x1234 = 4660 and 0xFFFF = 65535 catch a wrong byte order or a signed read.
  const fs::path path = write("a.bin", llmc_shard(20240520, 1, 2, {0x1234, 0xFFFF}, 2));
  const Dataset d = load_dataset(path, LoadOptions{65536, nullptr, false, 0});
  EXPECT_EQ(d.sequences.at(0), (Ids{4660, 65535}));
}

TEST_F(DataTest, BinLlama3Shard) {
  const fs::path path = write("a.bin", llmc_shard(20240801, 7, 3, {128000, 9, 70000}, 4));
  const Dataset d = load_dataset(path, LoadOptions{128256, nullptr, false, 0});
  EXPECT_EQ(d.sequences.at(0), (Ids{128000, 9, 70000}));
}

TEST_F(DataTest, BinMalformed) {
  const LoadOptions opts{kVocab, nullptr, false, 0};
  const fs::path magic = write("magic.bin", llmc_shard(20240521, 1, 1, {3}, 2));
  expect_error(magic, opts, {magic.string(), "bad magic 20240521"});
  const fs::path version = write("version.bin", llmc_shard(20240520, 2, 1, {3}, 2));
  expect_error(version, opts, {version.string(), "unsupported version 2"});
  const fs::path size = write("size.bin", llmc_shard(20240520, 1, 3, {3, 4}, 2));
  expect_error(size, opts, {size.string(), "header says 3 tokens (1030 bytes) but the file has 1028 bytes"});
  const fs::path tiny = write("tiny.bin", std::string(100, '\0'));
  expect_error(tiny, opts, {tiny.string(), "100 bytes", "header"});
  const fs::path negative = write("negative.bin", llmc_shard(20240520, 1, -1, {}, 2));
  expect_error(negative, opts, {negative.string(), "negative token count"});
  // Token 2 (id 11) sits at byte 1024 + 2·2 = 1028.
  const fs::path high = write("high.bin", llmc_shard(20240520, 1, 3, {1, 2, 11}, 2));
  expect_error(high, opts, {high.string(), "byte offset 1028", "token id 11 out of range [0, 11)"});
}

TEST_F(DataTest, EmptyDatasetsAreErrors) {
  const LoadOptions opts = options();
  for (const auto& [name, content] : std::map<std::string, std::string>{{"a.txt", "\n \n"},
                                                                        {"b.jsonl", "\n\n"},
                                                                        {"c.ids", ""},
                                                                        {"d.bin", llmc_shard(20240520, 1, 0, {}, 2)}}) {
    const fs::path path = write(name, content);
    expect_error(path, opts, {path.string(), "empty dataset"});
  }
}

TEST_F(DataTest, MissingFileIsIoError) {
  const fs::path path = dir_ / "absent.ids";
  expect_error(path, options(), {path.string(), "cannot open"});
  const fs::path folder = dir_ / "folder.ids";
  fs::create_directory(folder);
  expect_error(folder, options(), {folder.string(), "not a regular file"});
}

// ---- examples ---------------------------------------------------------------------------

Dataset dataset_of(std::vector<Ids> sequences, Ids labels = {}) {
  return Dataset{"mem.ids", std::move(sequences), std::move(labels)};
}

TEST(Examples, LanguageModelWindowsOverlapByOne) {
  // 10 tokens, T = 4: windows [0..4], [4..8], then the tail [8, 9] as a 1-token window.
  const ExampleSet set = lm_examples(dataset_of({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}), 4);
  ASSERT_EQ(set.examples.size(), 3u);
  EXPECT_EQ(set.examples[0].ids, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(set.examples[0].targets, (Ids{1, 2, 3, 4}));
  EXPECT_EQ(set.examples[1].ids, (Ids{4, 5, 6, 7}));
  EXPECT_EQ(set.examples[1].targets, (Ids{5, 6, 7, 8}));
  EXPECT_EQ(set.examples[2].ids, (Ids{8}));
  EXPECT_EQ(set.examples[2].targets, (Ids{9}));
  EXPECT_EQ(set.task, Task::LanguageModel);
  EXPECT_EQ(set.context, 4);
}

TEST(Examples, WindowEdgeCases) {
  // 9 tokens at T = 4 fill two windows exactly (token 8 is the last target); 5 tokens one;
  // a 3-token sequence gives one short window; a 1-token sequence none.
  const ExampleSet set = lm_examples(dataset_of({{0, 1, 2, 3, 4, 5, 6, 7, 8}, {0, 1, 2, 3, 4}, {5, 6, 7}, {9}}), 4);
  ASSERT_EQ(set.examples.size(), 4u);
  EXPECT_EQ(set.examples[1].targets, (Ids{5, 6, 7, 8}));
  EXPECT_EQ(set.examples[2].ids, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(set.examples[3].ids, (Ids{5, 6}));
  EXPECT_EQ(set.examples[3].targets, (Ids{6, 7}));
}

TEST(Examples, NoWindowIsAnError) {
  EXPECT_THROW((void)lm_examples(dataset_of({{3}, {4}}), 4), Error);
  EXPECT_THROW((void)lm_examples(dataset_of({{3, 4}}), 0), Error);
}

TEST(Examples, BertClassificationTruncatesToContextMinusTwo) {
  // T = 5 keeps 3 text tokens between [CLS] (2) and [SEP] (3).
  const ExampleSet set = classification_examples(dataset_of({{5, 6, 7, 8, 9, 10}, {}}, {1, 0}), 5, Framing{2, 3});
  ASSERT_EQ(set.examples.size(), 2u);
  EXPECT_EQ(set.examples[0].ids, (Ids{2, 5, 6, 7, 3}));
  EXPECT_EQ(set.examples[0].label, 1);
  EXPECT_EQ(set.examples[1].ids, (Ids{2, 3}));
  EXPECT_TRUE(set.examples[0].targets.empty());
  EXPECT_TRUE(set.segments);
}

TEST(Examples, UnframedClassificationTruncatesToContext) {
  const ExampleSet set = classification_examples(dataset_of({{5, 6, 7, 8}}, {0}), 3);
  EXPECT_EQ(set.examples.at(0).ids, (Ids{5, 6, 7}));
  EXPECT_FALSE(set.segments);
}

TEST(Examples, ClassificationNeedsLabelsAndBothFramingIds) {
  EXPECT_THROW((void)classification_examples(dataset_of({{5}}), 4), Error);
  EXPECT_THROW((void)classification_examples(dataset_of({{5}}, {0}), 4, Framing{2, std::nullopt}), Error);
  EXPECT_THROW((void)classification_examples(dataset_of({{5}}, {0}), 1, Framing{2, 3}), Error);
}

// ---- batching ---------------------------------------------------------------------------

BatcherOptions in_order(std::int64_t batch_size) {
  BatcherOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  return o;
}

TEST(Batcher, PadsLanguageModelTail) {
  // Windows {0,1,2,3}->{1,2,3,4} and tail {4}->{5} with T = 4, padded to T.
  Batcher batcher(lm_examples(dataset_of({{0, 1, 2, 3, 4, 5}}), 4), in_order(2));
  const Batch b = batcher.next();
  EXPECT_EQ(b.ids.shape(), (tandem::Shape{2, 4}));
  EXPECT_EQ(to_ids(b.ids), (Ids{0, 1, 2, 3, 4, 0, 0, 0}));
  EXPECT_EQ(to_ids(b.targets), (Ids{1, 2, 3, 4, 5, -100, -100, -100}));
  EXPECT_EQ(to_floats(b.mask), (std::vector<float>{1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_FALSE(b.labels.defined());
  EXPECT_FALSE(b.token_types.defined());
}

TEST(Batcher, PadsToLongestOrToContext) {
  // Two short sequences give windows of 2 and 1 tokens; T = 8.
  const ExampleSet set = lm_examples(dataset_of({{1, 2, 3}, {4, 5}}), 8);
  BatcherOptions opts = in_order(2);
  opts.pad_id = 9;
  const Batch longest = Batcher(set, opts).next();
  EXPECT_EQ(longest.ids.shape(), (tandem::Shape{2, 2}));
  EXPECT_EQ(to_ids(longest.ids), (Ids{1, 2, 4, 9}));
  EXPECT_EQ(to_ids(longest.targets), (Ids{2, 3, 5, -100}));
  opts.pad_to_context = true;
  const Batch full = Batcher(set, opts).next();
  EXPECT_EQ(full.ids.shape(), (tandem::Shape{2, 8}));
  EXPECT_EQ(to_ids(full.ids), (Ids{1, 2, 9, 9, 9, 9, 9, 9, 4, 9, 9, 9, 9, 9, 9, 9}));
  EXPECT_EQ(to_floats(full.mask), (std::vector<float>{1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Batcher, BertBatchHasLabelsAndTokenTypes) {
  const ExampleSet set = classification_examples(dataset_of({{5, 6}, {7}}, {1, 0}), 6, Framing{2, 3});
  const Batch b = Batcher(set, in_order(2)).next();
  EXPECT_EQ(to_ids(b.ids), (Ids{2, 5, 6, 3, 2, 7, 3, 0}));
  EXPECT_EQ(to_floats(b.mask), (std::vector<float>{1, 1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(to_ids(b.labels), (Ids{1, 0}));
  EXPECT_EQ(to_ids(b.token_types), (Ids{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(b.targets.defined());
}

ExampleSet numbered(std::int64_t n) {
  // Example k is the single-token window {k} -> {k}; its id tells where it came from.
  ExampleSet set{Task::LanguageModel, 1, false, {}};
  for (std::int32_t k = 0; k < n; ++k) set.examples.push_back(Example{{k}, {k}, -1});
  return set;
}

nlohmann::json shuffle_fixture() {
  std::ifstream in(fs::path(TANDEM_FIXTURES) / "data" / "shuffle_orders.json");
  EXPECT_TRUE(in.good()) << "missing fixture shuffle_orders.json";
  return nlohmann::json::parse(in);
}

TEST(Batcher, ShuffleMatchesIndependentModel) {
  const nlohmann::json cases = shuffle_fixture();
  ASSERT_GE(cases.size(), 5u);
  for (const auto& c : cases) {
    BatcherOptions opts;
    opts.seed = std::stoull(c["seed"].get<std::string>());
    const auto n = c["n"].get<std::int64_t>();
    const Batcher batcher(numbered(n), opts);
    EXPECT_EQ(batcher.epoch_order(c["epoch"].get<std::int64_t>()), c["order"].get<std::vector<std::int64_t>>())
        << "seed " << c["seed"] << " epoch " << c["epoch"];
  }
}

TEST(Batcher, BatchesFollowEpochOrderAndShuffleIsAPermutation) {
  BatcherOptions opts;
  opts.batch_size = 4;
  opts.seed = 42;
  Batcher batcher(numbered(10), opts);
  const std::vector<std::int64_t> order = batcher.epoch_order(0);
  EXPECT_EQ(std::set<std::int64_t>(order.begin(), order.end()).size(), 10u);
  EXPECT_NE(order, batcher.epoch_order(1));
  Ids seen;
  for (int i = 0; i < 3; ++i) {
    const Ids ids = to_ids(batcher.next().ids);
    seen.insert(seen.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(seen, Ids(order.begin(), order.end()));
  EXPECT_EQ(batcher.position(), (Position{1, 0}));
}

TEST(Batcher, UnshuffledOrderIsIdentity) {
  const Batcher batcher(numbered(5), in_order(2));
  EXPECT_EQ(batcher.epoch_order(3), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST(Batcher, LastBatchIsSmallerUnlessDropped) {
  BatcherOptions opts = in_order(4);
  Batcher keep(numbered(10), opts);
  EXPECT_EQ(keep.batches_per_epoch(), 3);
  (void)keep.next();
  (void)keep.next();
  EXPECT_EQ(to_ids(keep.next().ids), (Ids{8, 9}));
  opts.drop_last = true;
  Batcher drop(numbered(10), opts);
  EXPECT_EQ(drop.batches_per_epoch(), 2);
  (void)drop.next();
  (void)drop.next();
  EXPECT_EQ(drop.position(), (Position{1, 0}));
  EXPECT_EQ(to_ids(drop.next().ids), (Ids{0, 1, 2, 3}));
}

TEST(Batcher, ResumeContinuesTheSameStream) {
  BatcherOptions opts;
  opts.batch_size = 3;
  opts.seed = 7;
  Batcher first(numbered(10), opts);  // 4 batches per epoch
  for (int i = 0; i < 6; ++i) (void)first.next();
  const Position saved = first.position();
  EXPECT_EQ(saved, (Position{1, 2}));
  std::vector<Ids> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(to_ids(first.next().ids));

  Batcher resumed(numbered(10), opts);
  resumed.set_position(saved);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(to_ids(resumed.next().ids), expected[static_cast<std::size_t>(i)]) << i;
}

TEST(Batcher, BadPositionIsAnError) {
  Batcher batcher(numbered(10), in_order(3));
  EXPECT_THROW(batcher.set_position({0, 4}), Error);
  EXPECT_THROW(batcher.set_position({-1, 0}), Error);
  EXPECT_NO_THROW(batcher.set_position({5, 3}));
}

TEST(Batcher, ShardsTakeEveryWorldthExample) {
  // 10 examples over 3 ranks: each takes 3 of the global order, the 10th is dropped.
  const nlohmann::json cases = shuffle_fixture();
  const auto& c = cases.at(1);  // seed 42, epoch 0, n 10
  ASSERT_EQ(c["n"].get<int>(), 10);
  const auto global = c["order"].get<std::vector<std::int64_t>>();
  std::set<std::int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    BatcherOptions opts;
    opts.seed = 42;
    opts.rank = rank;
    opts.world = 3;
    opts.batch_size = 3;
    Batcher batcher(numbered(10), opts);
    EXPECT_EQ(batcher.examples_per_epoch(), 3);
    const std::vector<std::int64_t> want{global[static_cast<std::size_t>(rank)], global[static_cast<std::size_t>(rank + 3)],
                                         global[static_cast<std::size_t>(rank + 6)]};
    EXPECT_EQ(batcher.epoch_order(0), want);
    const Ids ids = to_ids(batcher.next().ids);
    EXPECT_EQ(ids, Ids(want.begin(), want.end()));
    all.insert(want.begin(), want.end());
  }
  EXPECT_EQ(all.size(), 9u);
}

TEST(Batcher, BadOptionsAreErrors) {
  BatcherOptions opts;
  opts.batch_size = 0;
  EXPECT_THROW(Batcher(numbered(4), opts), Error);
  opts.batch_size = 1;
  opts.world = 2;
  opts.rank = 2;
  EXPECT_THROW(Batcher(numbered(4), opts), Error);
  opts.world = 5;
  opts.rank = 0;
  EXPECT_THROW(Batcher(numbered(4), opts), Error);
  opts.world = 1;
  opts.drop_last = true;
  opts.batch_size = 5;
  EXPECT_THROW(Batcher(numbered(4), opts), Error);
  ExampleSet too_long = numbered(2);
  too_long.examples[0].ids = {1, 2};
  EXPECT_THROW(Batcher(too_long, BatcherOptions{}), Error);
}

}  // namespace
