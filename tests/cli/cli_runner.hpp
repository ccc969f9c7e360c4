#pragma once
// Runs the real `tandem` program (its path comes from CMake) and captures what a user sees:
// the exit status, stdout, stderr, and whether a signal ended it.

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tandem::test {

struct CliResult {
  int status = -1;        // exit status, or -1 when killed by a signal
  bool signalled = false;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// @p args is appended to the program path as is (the caller quotes what needs quoting).
inline CliResult run_cli(const std::string& args) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path dir = fs::temp_directory_path() / ("tandem-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  const std::string cmd = std::string(TANDEM_CLI) + " " + args + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
  const int raw = std::system(cmd.c_str());
  CliResult r;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  // std::system runs /bin/sh: a child killed by a signal shows as exit 128 + signal.
  if (WIFEXITED(raw)) {
    r.status = WEXITSTATUS(raw);
    r.signalled = r.status > 128;
  } else {
    r.signalled = true;
  }
  fs::remove_all(dir);
  return r;
}

}  // namespace tandem::test
