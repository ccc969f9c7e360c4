#pragma once
// The op conformance catalogue: every op, forward and backward, at a set of shapes, with the
// error bound a correct fp32 implementation must meet against the double-accumulating
// reference. The same cases drive the conformance test (tests/conformance, every device) and
// `tandem kernels test` (one device, for kernel authors), the way ggml's test-backend-ops does.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ops/op_kernels.hpp"
#include "ops/op_kind.hpp"

namespace tandem::verify {

// got is within bound of ref when Σ(got−ref)²/Σref² <= nmse and every element satisfies
// |got − ref| <= atol + rtol·|ref|.
struct Bound {
  double nmse = 0, atol = 0, rtol = 0;
};

// One op at one shape. make() builds the inputs lazily so a catalogue of large cases costs
// nothing until a case runs.
struct OpCase {
  std::string op;      // op_name(): "matmul_backward"
  std::string family;  // the kernel file it exercises: "gemm"
  std::string shape;   // human-readable, e.g. "(64, 48) x (48, 80) NT alpha=2"
  OpCost cost;
  std::function<struct CaseData()> make;
};

// A case's tensors: inputs, and outputs with their initial contents (random for outputs a
// backward op accumulates into) and bounds; run() calls the op on a backend.
struct CaseData {
  struct Output {
    std::string name;
    Tensor initial;
    Bound bound;
  };
  std::vector<Tensor> inputs;
  std::vector<Output> outputs;
  std::function<void(OpKernels&, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs)> run;
};

struct CaseResult {
  std::string op, family, shape;
  double max_abs_err = 0;  // over all outputs
  double nmse = 0;         // the worst output's
  bool pass = false;
  std::string failure;     // why it failed: the output and the violated bound, NaN, guard bytes, error text
  double ms = 0;           // median time of one call on the device
  OpCost cost;
};

// The default catalogue: small odd shapes that hit every edge, plus GPT-2-sized ones.
std::vector<OpCase> default_cases();

// The cases of @p op_or_family ("matmul", "gemm", ...) at the given shapes. A shape is a list
// of sizes whose meaning depends on the op (shape_help() lists them), e.g. "64x48x80" for
// matmul M×K×N. An unknown op, family or malformed shape is an error naming it.
std::vector<OpCase> cases_for(const std::string& op_or_family, const std::vector<std::vector<std::int64_t>>& shapes);
// One line per op: what the sizes of --shapes mean.
std::string shape_help();
// "64x48x80,128x64x32" -> {{64,48,80},{128,64,32}}; an error names the malformed part.
std::vector<std::vector<std::int64_t>> parse_shapes(const std::string& spec);

// Runs @p c on @p device (warm-up, @p repeats timed calls, then a checked call whose outputs
// sit between guard zones) and on the reference, and compares. A tandem::Error thrown by the
// device is reported as a failure, not rethrown.
CaseResult run_case(const OpCase& c, OpKernels& device, int repeats = 3);

}  // namespace tandem::verify
