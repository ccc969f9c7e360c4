// fpga/Makefile, the Vitis build flow, run here without Vitis: with no v++ on PATH it stops with
// one message; with stand-in v++ and emconfigutil scripts that log their arguments, it issues a
// compile per kernel, one link with the card's connectivity file, and emconfigutil for
// emulation. The connectivity files must say what the manifests say.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "bitstream/manifest.hpp"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = TANDEM_SOURCE_DIR;

struct ShellRun {
  int status = -1;
  std::string output;
};

// /bin/sh -c @p command with stdout and stderr captured together.
ShellRun shell(const std::string& command) {
  ShellRun r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int raw = ::pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Scratch {
 public:
  Scratch() : path_(fs::temp_directory_path() / ("tandem-fpga-flow-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~Scratch() { fs::remove_all(path_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bool have_make() { return shell("command -v make").status == 0; }

TEST(FpgaFlow, WithoutVitisSaysSoAndStops) {
  if (!have_make()) GTEST_SKIP() << "make is not installed";
  Scratch s;
  // A PATH with make and the shell tools but no Vitis.
  const ShellRun r = shell("env PATH=/usr/bin:/bin make --no-print-directory -C " + (kSource / "fpga").string() +
                      " CARD=u55c TARGET=hw_emu OUT=" + (s.path() / "out").string() + " BUILD=" + (s.path() / "build").string());
  if (r.output.find("v++ not found") == std::string::npos && shell("env PATH=/usr/bin:/bin command -v v++").status == 0)
    GTEST_SKIP() << "v++ is installed in /usr/bin";
  EXPECT_NE(r.status, 0);
  // The message, then make's own line about the failed step.
  EXPECT_EQ(r.output.rfind("v++ not found: source Vitis' settings64.sh (Vitis 2022.1 or later, for the 2022 platforms the "
                           "manifests name; which releases take OpenCL C kernels: docs/fpga.md)\nmake: *** [",
                           0),
            0u)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;
  EXPECT_FALSE(fs::exists(s.path() / "out"));
}

TEST(FpgaFlow, UnknownCardOrTargetIsAnError) {
  if (!have_make()) GTEST_SKIP() << "make is not installed";
  const ShellRun card = shell("make --no-print-directory -C " + (kSource / "fpga").string() + " CARD=u9");
  EXPECT_NE(card.status, 0);
  EXPECT_NE(card.output.find("CARD=u9: there is no"), std::string::npos) << card.output;
  EXPECT_NE(card.output.find("(cards: u250 u280 u55c)"), std::string::npos) << card.output;
  const ShellRun target = shell("make --no-print-directory -C " + (kSource / "fpga").string() + " CARD=u250 TARGET=emu");
  EXPECT_NE(target.output.find("TARGET=emu: expected sw_emu, hw_emu or hw"), std::string::npos) << target.output;
}

TEST(FpgaFlow, CompilesEachKernelLinksWithTheCardsConnectivityAndMakesEmconfig) {
  if (!have_make()) GTEST_SKIP() << "make is not installed";
  Scratch s;
  const fs::path bin = s.path() / "bin", log = s.path() / "log";
  fs::create_directories(bin);
  // Stand-ins: log the arguments, create the file named after -o (or emconfig.json in --od).
  const std::string tool = "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> " + log.string() +
                           "\nout=''\nprev=''\nfor a in \"$@\"; do\n  [ \"$prev\" = -o ] && out=\"$a\"\n"
                           "  [ \"$prev\" = --od ] && out=\"$a/emconfig.json\"\n  prev=\"$a\"\ndone\n"
                           "[ -n \"$out\" ] && : > \"$out\"\nexit 0\n";
  for (const char* name : {"v++", "emconfigutil"}) {
    std::ofstream(bin / name) << tool;
    fs::permissions(bin / name, fs::perms::owner_all);
  }
  const std::string make = "env PATH=" + bin.string() + ":/usr/bin:/bin make --no-print-directory -C " +
                           (kSource / "fpga").string() + " CARD=u55c TARGET=hw_emu OUT=" + (s.path() / "out").string() +
                           " BUILD=" + (s.path() / "build").string();
  const ShellRun r = shell(make);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(s.path() / "out" / "tandem.hw_emu.xclbin"));
  EXPECT_TRUE(fs::exists(s.path() / "out" / "emconfig.json"));
  const bitstream::Manifest m = bitstream::load_manifest(kSource / "bitstreams" / "u55c" / "manifest.json");
  std::istringstream lines(slurp(log));
  int compiles = 0, links = 0, emconfigs = 0;
  std::set<std::string> compiled;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("v++ -c -t hw_emu --platform " + m.platform + " -k ", 0) == 0) {
      ++compiles;
      const std::string kernel = line.substr(line.find(" -k ") + 4, line.find(' ', line.find(" -k ") + 4) - line.find(" -k ") - 4);
      compiled.insert(kernel);
      const auto& k = *std::find_if(m.kernels.begin(), m.kernels.end(), [&](const auto& x) { return x.name == kernel; });
      EXPECT_NE(line.find("fpga/kernels/" + k.family + ".cl"), std::string::npos) << line;
    } else if (line.rfind("v++ -l -t hw_emu --platform " + m.platform + " --config " +
                              (kSource / "fpga" / "connectivity" / "u55c.cfg").string(), 0) == 0) {
      ++links;
      EXPECT_NE(line.find("-o " + (s.path() / "out" / "tandem.hw_emu.xclbin").string()), std::string::npos) << line;
    } else if (line == "emconfigutil --platform " + m.platform + " --od " + (s.path() / "out").string()) {
      ++emconfigs;
    } else {
      ADD_FAILURE() << "unexpected command: " << line;
    }
  }
  EXPECT_EQ(compiles, int(m.kernels.size()));
  EXPECT_EQ(compiled.size(), m.kernels.size());
  EXPECT_EQ(links, 1);
  EXPECT_EQ(emconfigs, 1);
  // Nothing left to do the second time.
  fs::remove(log);
  EXPECT_EQ(shell(make).status, 0);
  EXPECT_FALSE(fs::exists(log));
}

// fpga/connectivity/<card>.cfg is generated from the manifest; a hand edit of either shows here.
TEST(FpgaFlow, ConnectivityFilesMatchTheManifests) {
  for (const char* card : {"u250", "u280", "u55c"}) {
    SCOPED_TRACE(card);
    const bitstream::Manifest m = bitstream::load_manifest(kSource / "bitstreams" / card / "manifest.json");
    std::set<std::string> want, got;
    want.insert("# platform: " + m.platform + "  (given to v++ as --platform by fpga/Makefile)");
    want.insert("kernel_frequency=" + std::to_string(int(m.target_clock_mhz)));
    for (const auto& k : m.kernels) {
      std::string names;
      for (int i = 0; i < k.compute_units; ++i) {
        names += (i ? "." : "") + k.name + "_" + std::to_string(i + 1);
        for (const auto& [arg, banks] : k.banks) want.insert("sp=" + k.name + "_" + std::to_string(i + 1) + "." + arg + ":" + k.bank(arg, i));
      }
      want.insert("nk=" + k.name + ":" + std::to_string(k.compute_units) + ":" + names);
    }
    std::istringstream lines(slurp(kSource / "fpga" / "connectivity" / (std::string(card) + ".cfg")));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty() && line != "[connectivity]" && line.rfind("# Generated", 0) != 0 && line.rfind("# do not edit", 0) != 0)
        got.insert(line);
    EXPECT_EQ(got, want);
  }
}

}  // namespace
}  // namespace tandem::test
