// The Communicator over MPI: one communication thread makes every MPI call (see the header).
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "dist/communicator.hpp"
#include "tandem/error.hpp"

namespace tandem::dist {
namespace {

using Clock = std::chrono::steady_clock;

// Element counts of one MPI call are ints: longer arrays go in pieces of this many.
constexpr std::size_t kMaxCount = std::size_t{1} << 30;

void check(int status, const char* call) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw Error(std::string("MPI ") + call + ": " + std::string(text, static_cast<std::size_t>(length)), ErrorCategory::Io);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    std::promise<void> started;
    std::future<void> ready = started.get_future();
    thread_ = std::thread([this, p = std::move(started)]() mutable { run(std::move(p)); });
    try {
      ready.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }

  ~MpiCommunicator() override {
    {
      std::lock_guard lock(m_);
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  [[nodiscard]] int rank() const noexcept override { return rank_; }
  [[nodiscard]] int size() const noexcept override { return size_; }

  void broadcast(std::span<float> data, int root) override {
    submit<void>([this, data, root] {
      for (std::size_t first = 0; first < data.size(); first += kMaxCount) {
        const std::size_t n = std::min(kMaxCount, data.size() - first);
        MPI_Request request{};
        check(MPI_Ibcast(data.data() + first, static_cast<int>(n), MPI_FLOAT, root, MPI_COMM_WORLD, &request),
              "MPI_Ibcast");
        complete(request, "MPI_Ibcast");
      }
    }).get();
  }

  std::vector<std::string> allgather(const std::string& text) override {
    return submit<std::vector<std::string>>([this, &text] {
      if (text.size() > static_cast<std::size_t>(INT_MAX)) throw Error("allgather: text longer than INT_MAX bytes");
      int mine = static_cast<int>(text.size());
      std::vector<int> lengths(static_cast<std::size_t>(size_));
      MPI_Request request{};
      check(MPI_Iallgather(&mine, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD, &request), "MPI_Iallgather");
      complete(request, "MPI_Iallgather");
      std::vector<int> offsets(lengths.size(), 0);
      long long total = 0;
      for (std::size_t r = 0; r < lengths.size(); ++r) {
        if (total > INT_MAX) throw Error("allgather: the ranks' texts exceed INT_MAX bytes in total");
        offsets[r] = static_cast<int>(total);
        total += lengths[r];
      }
      std::string all(static_cast<std::size_t>(total), '\0');
      check(MPI_Iallgatherv(text.data(), mine, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                            MPI_COMM_WORLD, &request),
            "MPI_Iallgatherv");
      complete(request, "MPI_Iallgatherv");
      std::vector<std::string> out;
      for (std::size_t r = 0; r < lengths.size(); ++r)
        out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
      return out;
    }).get();
  }

  double allreduce_sum(double value) override {
    return submit<double>([this, value] {
      double v = value;
      MPI_Request request{};
      check(MPI_Iallreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &request), "MPI_Iallreduce");
      complete(request, "MPI_Iallreduce");
      return v;
    }).get();
  }

  std::future<CommTiming> start_allreduce_sum(std::span<float> data, std::function<void()> before,
                                              std::function<void()> after) override {
    return submit<CommTiming>([this, data, before = std::move(before), after = std::move(after)] {
      CommTiming t;
      t.start = Clock::now();
      if (before) before();
      for (std::size_t first = 0; first < data.size(); first += kMaxCount) {
        const std::size_t n = std::min(kMaxCount, data.size() - first);
        MPI_Request request{};
        check(MPI_Iallreduce(MPI_IN_PLACE, data.data() + first, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD, &request),
              "MPI_Iallreduce");
        complete(request, "MPI_Iallreduce");
      }
      if (after) after();
      t.end = Clock::now();
      return t;
    });
  }

  [[noreturn]] void abort(int code) noexcept override {
    {
      std::lock_guard lock(m_);
      abort_code_.store(code);
      if (!running_) std::_Exit(code);
    }
    cv_.notify_all();
    // The communication thread calls MPI_Abort at its next poll or wake-up; should MPI itself
    // be stuck, leave anyway: mpirun ends the other ranks when one exits without finalising.
    std::this_thread::sleep_for(std::chrono::seconds(20));
    std::_Exit(code);
  }

 private:
  // Queues @p job for the communication thread; its result or error arrives in the future.
  template <class T, class F>
  std::future<T> submit(F job) {
    auto task = std::make_shared<std::packaged_task<T()>>(std::move(job));
    std::future<T> result = task->get_future();
    {
      std::lock_guard lock(m_);
      if (!running_) throw Error("MPI: the communication thread has stopped", ErrorCategory::Internal);
      jobs_.emplace_back([task] { (*task)(); });
    }
    cv_.notify_all();
    return result;
  }

  void abort_if_asked() {
    const int code = abort_code_.load();
    if (code < 0) return;
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, leave all the same
  }

  // Polls @p request until it completes: a few yields first (short collectives), then sleeps
  // of 50 µs, so a rank waiting for a slower peer leaves the core to backward.
  void complete(MPI_Request& request, const char* call) {
    for (int polls = 0;; ++polls) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
      if (done != 0) return;
      abort_if_asked();
      if (polls < 64) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void run(std::promise<void> started) {
    try {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      if (provided < MPI_THREAD_FUNNELED)
        throw Error("MPI_Init_thread: the MPI library does not provide MPI_THREAD_FUNNELED", ErrorCategory::Io);
      check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
      check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
      check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
      {
        std::lock_guard lock(m_);
        running_ = true;
      }
      started.set_value();
    } catch (...) {
      started.set_exception(std::current_exception());
      return;
    }
    serve();
    {
      std::lock_guard lock(m_);
      running_ = false;
    }
    MPI_Finalize();
  }

  // Runs queued jobs in order until the Communicator closes, or aborts the job when asked.
  void serve() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return closing_ || !jobs_.empty() || abort_code_.load() >= 0; });
        if (abort_code_.load() >= 0) {
          lock.unlock();
          abort_if_asked();
        }
        if (jobs_.empty()) return;  // closing with nothing left to run
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();  // a packaged_task: its error goes to its future
    }
  }

  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool closing_ = false;
  bool running_ = false;
  std::atomic<int> abort_code_{-1};
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool built_with_mpi() noexcept { return true; }

std::unique_ptr<Communicator> join_job() {
  const std::optional<Launch> launch = launch_from_environment();
  if (!launch || launch->size < 2) return nullptr;
  return std::make_unique<MpiCommunicator>();
}

}  // namespace tandem::dist
