#include "backends/xrt/xrt_kernels.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "backends/xrt/xrt_api.hpp"
#include "bitstream/manifest.hpp"
#include "tandem/error.hpp"

namespace tandem::xrt {
namespace {

constexpr std::uintptr_t kPage = 4096;  // XRT's user-pointer bos need page-aligned host memory

std::string state_name(ert_cmd_state state) {
  switch (state) {
    case ERT_CMD_STATE_NEW: return "NEW";
    case ERT_CMD_STATE_QUEUED: return "QUEUED";
    case ERT_CMD_STATE_RUNNING: return "RUNNING";
    case ERT_CMD_STATE_COMPLETED: return "COMPLETED";
    case ERT_CMD_STATE_ERROR: return "ERROR";
    case ERT_CMD_STATE_ABORT: return "ABORT";
    case ERT_CMD_STATE_SUBMITTED: return "SUBMITTED";
    case ERT_CMD_STATE_TIMEOUT: return "TIMEOUT";
    case ERT_CMD_STATE_NORESPONSE: return "NORESPONSE";
    default: return "state " + std::to_string(static_cast<int>(state));
  }
}

std::string first_line(std::string_view text) { return std::string(text.substr(0, text.find('\n'))); }

// Runs @p body, turning XRT's exceptions (std::exception) into a Device error about @p what.
template <class F> auto guarded(const std::string& what, F&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(what + ": " + first_line(e.what()), ErrorCategory::Device);
  }
}

// "gemm:gemm_1" (an IP_LAYOUT name) -> "gemm:{gemm_1}", XRT's name for one compute unit.
std::string cu_spec(const std::string& kernel, const std::string& ip_name) {
  const std::size_t colon = ip_name.find(':');
  return kernel + ":{" + (colon == std::string::npos ? ip_name : ip_name.substr(colon + 1)) + "}";
}

}  // namespace

struct XrtKernels::Runtime {
  ::xrt::device device;
  ::xrt::xclbin xclbin;
  ::xrt::uuid uuid;
  // Per kernel name, one handle per compute unit, in the xclbin's CU order.
  std::map<std::string, std::vector<::xrt::kernel>, std::less<>> kernels;
  std::map<int, ::xrt::bo> dummies;  // per bank: bound where an optional tensor is absent

  const std::vector<::xrt::kernel>& compute_units(std::string_view name) {
    if (auto it = kernels.find(name); it != kernels.end()) return it->second;
    const std::string kernel_name(name);
    std::vector<::xrt::kernel> cus;
    for (const ::xrt::xclbin::ip& cu : xclbin.get_kernel(kernel_name).get_cus())
      cus.emplace_back(device, uuid, cu_spec(kernel_name, cu.get_name()));
    if (cus.empty()) throw Error("kernel " + kernel_name + " has no compute unit in the xclbin", ErrorCategory::Device);
    return kernels.emplace(kernel_name, std::move(cus)).first->second;
  }

  ::xrt::bo& dummy(int bank) {
    auto it = dummies.find(bank);
    if (it == dummies.end()) it = dummies.emplace(bank, ::xrt::bo(device, std::size_t{64}, bank)).first;
    return it->second;
  }
};

std::filesystem::path resolve_xclbin(const XrtOptions& options, const DeviceInfo& device) {
  if (!options.xclbin.empty()) return options.xclbin;
  if (const char* env = std::getenv("TANDEM_XCLBIN"); env != nullptr && *env != '\0') return env;
  const std::optional<std::filesystem::path> manifest =
      bitstream::find_manifest_for_platform(device.shell, options.bitstream_dir);
  if (!manifest)
    throw Error(options.device + ": no manifest for " + device.shell + " under " + options.bitstream_dir.string() +
                    " and TANDEM_XCLBIN is not set",
                ErrorCategory::Device);
  return bitstream::binary_path(bitstream::load_manifest(*manifest), *manifest, bitstream::target_from_environment());
}

XrtKernels::XrtKernels(const XrtOptions& options)
    : device_(find_device(options.device)), name_("xrt:" + std::to_string(device_.index)) {
  xclbin_ = resolve_xclbin(options, device_);
  if (std::error_code ec; !std::filesystem::is_regular_file(xclbin_, ec))
    throw Error(name_ + ": " + xclbin_.string() + ": no such xclbin file", ErrorCategory::Io);
  runtime_ = guarded(name_ + ": " + xclbin_.string(), [&] {
    auto rt = std::make_unique<Runtime>();
    rt->device = ::xrt::device(static_cast<unsigned int>(device_.index));
    rt->xclbin = ::xrt::xclbin(xclbin_.string());
    rt->uuid = rt->device.load_xclbin(rt->xclbin);
    std::size_t fewest = 0;
    for (const ::xrt::xclbin::kernel& k : rt->xclbin.get_kernels()) {
      const std::size_t cus = k.get_cus().size();
      if (cus > 0 && (fewest == 0 || cus < fewest)) fewest = cus;
    }
    compute_units_ = static_cast<std::uint32_t>(std::max<std::size_t>(fewest, 1));
    return rt;
  });
}

XrtKernels::~XrtKernels() = default;

// The kernels of one op. Launches run in order, as on an OpenCL in-order queue: a launch
// starts after every run of the launch before it has completed, because it may read what
// they wrote; the compute units of one launch run concurrently.
//
// Work-groups and compute units: a launch of G groups is G xrt::runs, the g-th on compute
// unit g mod CUs. The kernels take their CU index and count from get_group_id(0) and
// get_num_groups(0). XRT's OpenCL runtime fills an OpenCL kernel's work-group registers (the
// xclbin's "rtinfo" arguments) from the NDRange; the native xrt::run sets only the indexed
// (user) arguments and leaves the rest of the command's register map zero. What a v++-built
// OpenCL kernel then reads from get_group_id / get_num_groups could not be checked here (no
// card, and XRT's emulation needs Vitis): if it reads 0, the kernels need their CU index and
// count as explicit arguments on this path.
class XrtLaunch final : public device::Launch {
 public:
  explicit XrtLaunch(XrtKernels& backend) : backend_(backend), rt_(*backend.runtime_) {}
  ~XrtLaunch() override;
  XrtLaunch(const XrtLaunch&) = delete;
  XrtLaunch& operator=(const XrtLaunch&) = delete;

  void run(std::string_view family, std::string_view kernel, std::size_t groups, std::span<const device::Arg> args,
           std::size_t local) override;
  void finish() override;

 private:
  struct Wrapped {
    ::xrt::bo bo;
    void* host = nullptr;
    std::size_t bytes = 0;
    bool staged = false;  // a copy: host memory is not page-aligned
    bool written = false;
  };
  struct Pending {
    ::xrt::run run;
    std::string kernel;
  };
  ::xrt::bo& bind(const device::Arg& arg, const ::xrt::kernel& kernel, int index);
  void start(const ::xrt::kernel& kernel, std::span<const device::Arg> args, const std::string& name);
  void wait_all();

  XrtKernels& backend_;
  XrtKernels::Runtime& rt_;
  std::map<const void*, Wrapped> buffers_;
  std::vector<Pending> pending_;
  bool finished_ = false;
};

std::unique_ptr<device::Launch> XrtKernels::begin_launch() { return std::make_unique<XrtLaunch>(*this); }

XrtLaunch::~XrtLaunch() {
  if (finished_) return;
  // An op stopped by an error: let its runs end before the tensors they write are released.
  for (Pending& p : pending_) {
    try {
      p.run.wait();
    } catch (const std::exception&) {  // the op already failed; nothing more to report
    }
  }
}

::xrt::bo& XrtLaunch::bind(const device::Arg& arg, const ::xrt::kernel& kernel, int index) {
  using Kind = device::Arg::Kind;
  const Tensor& t = *arg.tensor;
  const int bank = kernel.group_id(index);
  if (!t.defined()) return rt_.dummy(bank);
  void* host = device::host_pointer(t);
  auto [it, fresh] = buffers_.try_emplace(host);
  Wrapped& w = it->second;
  if (fresh) {
    // A tensor lives in the bank of the first argument it is bound to; the connectivity of
    // the xclbin must put every argument it later meets in that bank too.
    w.host = host;
    w.bytes = t.nbytes();
    w.staged = reinterpret_cast<std::uintptr_t>(host) % kPage != 0;
    w.bo = w.staged ? ::xrt::bo(rt_.device, w.bytes, bank) : ::xrt::bo(rt_.device, host, w.bytes, bank);
    if (arg.kind != Kind::Out) {
      if (w.staged) w.bo.write(host);
      w.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE);
    }
  }
  if (arg.kind != Kind::In) w.written = true;
  return w.bo;
}

void XrtLaunch::start(const ::xrt::kernel& kernel, std::span<const device::Arg> args, const std::string& name) {
  using Kind = device::Arg::Kind;
  ::xrt::run run(kernel);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const device::Arg& a = args[i];
    const int index = static_cast<int>(i);
    switch (a.kind) {
      case Kind::In:
      case Kind::Out:
      case Kind::InOut:
        run.set_arg(index, bind(a, kernel, index));
        break;
      case Kind::Int:
        run.set_arg(index, a.i);
        break;
      case Kind::Float:
        run.set_arg(index, a.f);
        break;
      case Kind::ULong:
        run.set_arg(index, a.u);
        break;
    }
  }
  run.start();
  pending_.push_back({std::move(run), name});
}

void XrtLaunch::wait_all() {
  std::vector<Pending> runs = std::exchange(pending_, {});
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const ert_cmd_state state = runs[i].run.wait();
    if (state != ERT_CMD_STATE_COMPLETED) {
      // The runs not yet waited for stay pending, so the destructor waits for them.
      pending_.assign(std::make_move_iterator(runs.begin() + static_cast<std::ptrdiff_t>(i + 1)),
                      std::make_move_iterator(runs.end()));
      throw Error(backend_.name_ + " " + runs[i].kernel + ": run ended in state " + state_name(state),
                  ErrorCategory::Device);
    }
  }
}

void XrtLaunch::run(std::string_view /*family*/, std::string_view kernel, std::size_t groups,
                    std::span<const device::Arg> args, std::size_t local) {
  const std::string name(kernel);
  const std::string what = backend_.name_ + " " + name;
  if (local != 1)
    throw Error(what + ": " + std::to_string(local) + " work-items per group; the XRT backend runs single-work-item "
                    "kernels only",
                ErrorCategory::Device);
  guarded(what, [&] {
    wait_all();
    const std::vector<::xrt::kernel>& cus = rt_.compute_units(name);
    for (std::size_t g = 0; g < groups; ++g) start(cus[g % cus.size()], args, name);
  });
}

void XrtLaunch::finish() {
  guarded(backend_.name_ + " finish", [&] {
    wait_all();
    for (auto& [host, w] : buffers_) {
      if (!w.written) continue;
      w.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE);
      if (w.staged) w.bo.read(w.host);
    }
  });
  finished_ = true;
}

}  // namespace tandem::xrt
