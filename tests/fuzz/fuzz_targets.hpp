#pragma once
// One fuzz body per parser Tandem exposes to files from elsewhere. Each feeds its bytes to the
// parser and then uses what it returns; a tandem::Error with a one-line message is the
// expected outcome of malformed input. Anything else — a crash, a sanitizer report, another
// exception type, an empty or multi-line message — is a finding.
//
// The bodies are shared by the libFuzzer programs (fuzz_main.cpp, fuzz preset) and by
// test_fuzz_inputs.cpp, which replays every committed seed and regression input in the normal
// build.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tandem::fuzz {

using Bytes = std::span<const std::uint8_t>;

void safetensors(Bytes data);  // a .safetensors file
void config(Bytes data);       // a model's config.json
void bpe(Bytes data);          // vocab.json '\0' merges.txt '\0' text to encode
void wordpiece(Bytes data);    // vocab.txt '\0' text to encode
void dataset(Bytes data);      // one selector byte (format, labels), then the file
void rules(Bytes data);        // a placement rules file
void manifest(Bytes data);     // a bitstream manifest.json
void xclbin(Bytes data);       // an .xclbin FPGA binary

struct Target {
  std::string_view name;  // also the folder of its seeds: tests/fuzz/corpus/<name>/
  void (*run)(Bytes);
};

// Every fuzz body, in the order run.sh fuzzes them.
const std::vector<Target>& targets();

}  // namespace tandem::fuzz
