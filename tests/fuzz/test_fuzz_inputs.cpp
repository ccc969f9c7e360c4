// Replays every committed fuzz input in the normal build: the seeds of each target
// (tests/fuzz/corpus/<target>/) and the inputs that once crashed a parser
// (tests/fuzz/regressions/<target>/, README.md there says what each one broke). Each must end
// in success or in a one-line tandem::Error naming the file; see fuzz_targets.hpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_targets.hpp"

namespace tandem::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The regular files under @p dir (none when it does not exist), sorted for stable output.
std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

const Target& target_named(const std::string& name) {
  const auto& all = targets();
  return *std::find_if(all.begin(), all.end(), [&](const Target& t) { return t.name == name; });
}

std::vector<std::string> target_names() {
  std::vector<std::string> names;
  for (const Target& t : targets()) names.emplace_back(t.name);
  return names;
}

void replay(const Target& target, const std::vector<fs::path>& files) {
  for (const fs::path& file : files) {
    const std::vector<std::uint8_t> bytes = read_bytes(file);
    try {
      target.run(bytes);
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": " << e.what();
    }
  }
}

class FuzzInputs : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzInputs, EverySeedEndsInSuccessOrAOneLineError) {
  const std::vector<fs::path> seeds = inputs_in(fs::path(TANDEM_FUZZ_DIR) / "corpus" / GetParam());
  ASSERT_FALSE(seeds.empty()) << "no seeds for " << GetParam();
  replay(target_named(GetParam()), seeds);
}

TEST_P(FuzzInputs, EveryRegressionInputEndsInSuccessOrAOneLineError) {
  replay(target_named(GetParam()), inputs_in(fs::path(TANDEM_FUZZ_DIR) / "regressions" / GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(target_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace tandem::fuzz
