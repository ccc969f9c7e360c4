#include "backends/opencl/opencl_kernels.hpp"

#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "backends/opencl/cl_status.hpp"
#include "tandem/error.hpp"

namespace tandem::opencl {
namespace {

// OpenCL 1.2 C everywhere: the dialect Xilinx's and Intel's offline compilers accept.
constexpr const char* kBuildOptions = "-cl-std=CL1.2";

// Xilinx's extension for placing a buffer in the memory bank its kernel argument is wired to
// (XRT's CL/cl_ext_xilinx.h: cl_mem_ext_ptr_t in its "kernel argument" form and the
// CL_MEM_EXT_PTR_XILINX flag), declared here so the backend does not need XRT's headers.
struct XilinxExtPtr {
  unsigned int arg_index;
  void* host_ptr;
  cl_kernel kernel;
};
constexpr cl_mem_flags kMemExtPtrXilinx = cl_mem_flags{1} << 31;

bool is_xilinx(const DeviceInfo& d) { return d.fpga && d.platform.find("Xilinx") != std::string::npos; }

}  // namespace

OpenclKernels::OpenclKernels(const OpenclOptions& options)
    : options_(options), device_(find_device(options.device)), cache_(options.cache_dir) {
  name_ = "opencl:" + std::to_string(device_.index);
  cl_int status = CL_SUCCESS;
  context_ = cl::Context(device_.device, nullptr, nullptr, nullptr, &status);
  check(status, "clCreateContext", device_.name);
  queue_ = cl::CommandQueue(context_, device_.device, 0, &status);
  check(status, "clCreateCommandQueue", device_.name);
  dummy_ = cl::Buffer(context_, CL_MEM_READ_WRITE, 64, nullptr, &status);
  check(status, "clCreateBuffer", "dummy");
}

OpenclKernels::~OpenclKernels() { queue_.finish(); }

void OpenclKernels::build(std::string_view family) {
  std::lock_guard lock(launch_mutex());
  program(family);
}

cl::Program& OpenclKernels::program(std::string_view family) {
  if (auto it = programs_.find(family); it != programs_.end()) return it->second;
  cl::Program built;
  if (device_.fpga) {
    // One binary holds every kernel; it is loaded once and shared by all families.
    if (auto any = programs_.begin(); any != programs_.end()) {
      built = any->second;
    } else {
      const std::filesystem::path file = fpga_binary(device_, options_.bitstream_dir);
      const KernelSource binary{std::string(family), file.string(), {}};
      std::ifstream in(file, std::ios::binary);
      std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      cl_int status = CL_SUCCESS;
      built = cl::Program(context_, {device_.device}, cl::Program::Binaries{bytes}, nullptr, &status);
      check(status, "clCreateProgramWithBinary", file.string());
      check(built.build({device_.device}), "clBuildProgram", file.string());
    }
  } else {
    built = cache_.build(context_, device_, kernel_source(family, options_.kernel_dir), kBuildOptions);
  }
  return programs_.emplace(std::string(family), std::move(built)).first->second;
}

cl::Kernel& OpenclKernels::kernel(std::string_view family, std::string_view name) {
  if (auto it = kernels_.find(name); it != kernels_.end()) return it->second;
  cl_int status = CL_SUCCESS;
  cl::Kernel k(program(family), std::string(name).c_str(), &status);
  check(status, "clCreateKernel", name);
  return kernels_.emplace(std::string(name), std::move(k)).first->second;
}

// The kernels of one op on the backend's queue: each tensor wrapped once, inputs migrated
// asynchronously, outputs mapped back by finish().
class OpenclLaunch final : public device::Launch {
 public:
  explicit OpenclLaunch(OpenclKernels& backend) : backend_(backend) {}
  ~OpenclLaunch() override;
  OpenclLaunch(const OpenclLaunch&) = delete;
  OpenclLaunch& operator=(const OpenclLaunch&) = delete;

  void run(std::string_view family, std::string_view kernel, std::size_t groups, std::span<const device::Arg> args,
           std::size_t local) override;
  void finish() override;

 private:
  struct Wrapped {
    cl::Buffer buffer;
    bool on_device = false;
    bool written = false;
  };
  cl::Buffer& bind(const device::Arg& arg, const cl::Kernel& kernel, cl_uint index, std::string_view kernel_name);

  OpenclKernels& backend_;
  std::map<const void*, Wrapped> buffers_;
  std::vector<cl::Event> copies_;  // migrations the next kernel must wait for
  bool finished_ = false;
};

std::unique_ptr<device::Launch> OpenclKernels::begin_launch() { return std::make_unique<OpenclLaunch>(*this); }

OpenclLaunch::~OpenclLaunch() {
  if (!finished_) backend_.queue_.finish();
}

cl::Buffer& OpenclLaunch::bind(const device::Arg& arg, const cl::Kernel& kernel, cl_uint index,
                               std::string_view kernel_name) {
  using Kind = device::Arg::Kind;
  const Tensor& t = *arg.tensor;
  if (!t.defined()) return backend_.dummy_;
  void* host = device::host_pointer(t);
  Wrapped& w = buffers_[host];
  if (w.buffer() == nullptr) {
    cl_int status = CL_SUCCESS;
    cl_mem_flags flags = CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR;
    XilinxExtPtr ext{index, host, kernel()};
    void* ptr = host;
    if (is_xilinx(backend_.device_)) {
      // The bank follows from the argument's connectivity in the xclbin (its group_id).
      flags |= kMemExtPtrXilinx;
      ptr = &ext;
    }
    w.buffer = cl::Buffer(backend_.context_, flags, t.nbytes(), ptr, &status);
    check(status, "clCreateBuffer", kernel_name);
  }
  if (!w.on_device) {
    // Outputs are migrated like inputs: PoCL 3.1 turns CL_MIGRATE_MEM_OBJECT_CONTENT_UNDEFINED
    // into a slow path (~3 ms per buffer measured), and on a card the copy is one DMA.
    cl::Event copied;
    check(backend_.queue_.enqueueMigrateMemObjects({w.buffer}, 0, nullptr, &copied), "clEnqueueMigrateMemObjects",
          kernel_name);
    copies_.push_back(copied);
    w.on_device = true;
  }
  if (arg.kind != Kind::In) w.written = true;
  return w.buffer;
}

void OpenclLaunch::run(std::string_view family, std::string_view kernel_name, std::size_t groups,
                       std::span<const device::Arg> args, std::size_t local) {
  using Kind = device::Arg::Kind;
  cl::Kernel& k = backend_.kernel(family, kernel_name);
  cl_uint index = 0;
  for (const device::Arg& a : args) {
    cl_int status = CL_SUCCESS;
    switch (a.kind) {
      case Kind::In:
      case Kind::Out:
      case Kind::InOut:
        status = k.setArg(index, bind(a, k, index, kernel_name));
        break;
      case Kind::Int:
        status = k.setArg(index, a.i);
        break;
      case Kind::Float:
        status = k.setArg(index, a.f);
        break;
      case Kind::ULong:
        status = k.setArg(index, static_cast<cl_ulong>(a.u));
        break;
    }
    check(status, "clSetKernelArg #" + std::to_string(index), kernel_name);
    ++index;
  }
  std::vector<cl::Event> wait = std::exchange(copies_, {});
  check(backend_.queue_.enqueueNDRangeKernel(k, cl::NullRange, cl::NDRange(groups * local), cl::NDRange(local),
                                             wait.empty() ? nullptr : &wait),
        "clEnqueueNDRangeKernel", kernel_name);
}

void OpenclLaunch::finish() {
  // Mapping a CL_MEM_USE_HOST_PTR buffer makes the host memory hold the device's result
  // (a no-op on CPU devices); unmapping hands the buffer back before it is released.
  std::vector<cl::Event> unmapped;
  for (auto& [host, w] : buffers_) {
    if (!w.written) continue;
    cl_int status = CL_SUCCESS;
    cl::size_type bytes = 0;
    check(w.buffer.getInfo(CL_MEM_SIZE, &bytes), "clGetMemObjectInfo");
    void* mapped = backend_.queue_.enqueueMapBuffer(w.buffer, CL_FALSE, CL_MAP_READ, 0, bytes, nullptr, nullptr, &status);
    check(status, "clEnqueueMapBuffer");
    cl::Event done;
    check(backend_.queue_.enqueueUnmapMemObject(w.buffer, mapped, nullptr, &done), "clEnqueueUnmapMemObject");
    unmapped.push_back(done);
  }
  check(backend_.queue_.finish(), "clFinish");
  finished_ = true;
}

}  // namespace tandem::opencl
