#pragma once
// Runs the real `tandem` program (its path comes from CMake) and captures what a user sees:
// the exit status, stdout, stderr, and whether a signal ended it.

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

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

// Single-quoted for /bin/sh (test paths and prompts hold no quote). Built by appending: GCC 12
// gives a false -Wrestrict warning for "'" + std::string + "'".
inline std::string quote(const std::string& s) {
  std::string q(1, '\'');
  q.append(s);
  q.push_back('\'');
  return q;
}

// A fresh empty folder under the system temp dir, unique per process, removed on destruction.
class Scratch {
 public:
  Scratch() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("tandem-cli-scratch-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~Scratch() { std::filesystem::remove_all(path_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Whether `tandem devices` lists an OpenCL device (tests needing one skip otherwise).
inline bool have_opencl() {
  const CliResult r = run_cli("devices --json");
  return r.status == 0 && !nlohmann::json::parse(r.out)["opencl"].empty();
}

}  // namespace tandem::test
