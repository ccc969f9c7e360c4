// `tandem kernels test`: the kernel author's bench. Runs the conformance cases of the chosen
// kernels on one device against the reference and prints error, pass/fail and speed.
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/registry.hpp"
#include "commands.hpp"
#include "tandem/error.hpp"
#include "verify/op_cases.hpp"
#if TANDEM_HAVE_OPENCL
#include "backends/opencl/opencl_kernels.hpp"
#endif

namespace tandem::cli {
namespace {

struct TestOptions {
  std::string device = "opencl";
  std::vector<std::string> kernels;
  bool all = false;
  std::string kernel_dir;
  std::string shapes;
  int repeats = 3;
  bool json = false;
};

// The backend a device spec names. OpenCL programs of every family the cases use are built
// first, so a kernel that does not compile stops the run with its compiler log.
std::unique_ptr<OpKernels> open_device(const TestOptions& o, const std::vector<verify::OpCase>& cases) {
  BackendOptions options;
  options.kernel_dir = o.kernel_dir;
  std::unique_ptr<OpKernels> backend = open_backend(o.device, options);
#if TANDEM_HAVE_OPENCL
  if (auto* cl = dynamic_cast<opencl::OpenclKernels*>(backend.get())) {
    std::set<std::string> families;
    for (const verify::OpCase& c : cases) families.insert(c.family);
    for (const std::string& f : families) cl->build(f);
  }
#else
  (void)cases;
#endif
  return backend;
}

std::vector<verify::OpCase> select_cases(const TestOptions& o) {
  if (o.all == !o.kernels.empty()) throw Error("kernels test: give --kernel NAME (repeatable) or --all");
  const auto shapes = o.shapes.empty() ? std::vector<std::vector<std::int64_t>>{} : verify::parse_shapes(o.shapes);
  if (o.all) {
    if (!shapes.empty()) throw Error("--shapes: sizes mean different things per kernel; use it with --kernel");
    return verify::default_cases();
  }
  std::vector<verify::OpCase> out;
  for (const std::string& k : o.kernels)
    for (verify::OpCase& c : verify::cases_for(k, shapes)) out.push_back(std::move(c));
  return out;
}

// GFLOP/s for compute-bound ops, GB/s for the rest (fewer than 4 flops per byte).
std::string rate(const verify::CaseResult& r) {
  if (r.ms <= 0) return "-";
  char buf[32];
  const bool compute = r.cost.flops >= 4 * r.cost.bytes;
  std::snprintf(buf, sizeof buf, "%.2f %s", (compute ? r.cost.flops : r.cost.bytes) / (r.ms * 1e6),
                compute ? "GFLOP/s" : "GB/s");
  return buf;
}

void run_tests(const TestOptions& o) {
  const std::vector<verify::OpCase> cases = select_cases(o);
  std::unique_ptr<OpKernels> device = open_device(o, cases);
  nlohmann::json results = nlohmann::json::array();
  int passed = 0, failed = 0;
  if (!o.json)
    std::printf("%-26s %-44s %11s %10s %-4s %9s %14s\n", "kernel", "shape", "max_abs_err", "nmse", "ok", "ms", "rate");
  std::vector<verify::CaseResult> failures;
  for (const verify::OpCase& c : cases) {
    const verify::CaseResult r = verify::run_case(c, *device, o.repeats);
    (r.pass ? passed : failed)++;
    if (!r.pass) failures.push_back(r);
    results.push_back({{"kernel", r.op},
                       {"family", r.family},
                       {"shape", r.shape},
                       {"max_abs_err", r.max_abs_err},
                       {"nmse", r.nmse},
                       {"pass", r.pass},
                       {"ms", r.ms},
                       {"flops", r.cost.flops},
                       {"bytes", r.cost.bytes}});
    if (!r.pass) results.back()["failure"] = r.failure;
    if (!o.json)
      std::printf("%-26s %-44s %11.3g %10.3g %-4s %9.3f %14s\n", r.op.c_str(), r.shape.c_str(), r.max_abs_err, r.nmse,
                  r.pass ? "pass" : "FAIL", r.ms, rate(r).c_str());
  }
  if (o.json) {
    std::cout << nlohmann::json{{"device", std::string(device->name())},
                                {"results", results},
                                {"passed", passed},
                                {"failed", failed}}
                     .dump(2)
              << "\n";
  } else {
    for (const verify::CaseResult& r : failures)
      std::printf("FAIL %s %s: %s\n", r.op.c_str(), r.shape.c_str(), r.failure.c_str());
    std::printf("%s: %d passed, %d failed\n", std::string(device->name()).c_str(), passed, failed);
  }
  if (failed > 0) g_exit_status = 1;
}

}  // namespace

void add_kernels_command(CLI::App& app) {
  auto* kernels = app.add_subcommand("kernels", "Test the FPGA kernels against the reference");
  kernels->require_subcommand(1);

  auto o = std::make_shared<TestOptions>();
  auto* test = kernels->add_subcommand("test", "Run kernels on a device and compare with the reference");
  test->add_option("--device", o->device, "opencl, opencl:N, xrt:N (see `tandem devices`) or cpu")
      ->capture_default_str();
  test->add_option("--kernel", o->kernels, "An op (matmul_backward), op group (matmul) or kernel file (gemm); repeatable");
  test->add_flag("--all", o->all, "Every kernel at its default shapes");
  test->add_option("--kernel-dir", o->kernel_dir, "Directory of edited <family>.cl files to use instead of the built-in kernels")
      ->check(CLI::ExistingDirectory);
  test->add_option("--shapes", o->shapes, "Comma-separated shapes like 64x48x80 (see `tandem kernels list`)");
  test->add_option("--repeats", o->repeats, "Timed calls per case (the median is shown)")->capture_default_str()->check(CLI::Range(0, 1000));
  test->add_flag("--json", o->json, "Print one JSON object");
  test->callback([o] { run_tests(*o); });

  auto* list = kernels->add_subcommand("list", "List the kernels and what --shapes means for each");
  list->callback([] { std::printf("kernels (op group, kernel file: sizes of --shapes):%s\n", verify::shape_help().c_str()); });
}

}  // namespace tandem::cli
