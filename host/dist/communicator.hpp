#pragma once
// The ranks of a data-parallel job and the collectives they run together.
//
// Tandem runs under an MPI launcher (`mpirun -np N tandem finetune ...`); it has no cluster
// layer of its own. join_job() tells from the environment whether the launcher started this
// process as one of several ranks, and only then initialises MPI: a process started any other
// way, or a build without MPI, runs alone exactly as before.
//
// Threads: every MPI call of the process (MPI_Init_thread, the collectives, MPI_Abort,
// MPI_Finalize) runs on one communication thread that the Communicator owns, so MPI is asked
// only for MPI_THREAD_FUNNELED, which every MPI library provides, rather than
// MPI_THREAD_MULTIPLE, which some builds lack and which serialises on internal locks anyway.
// Other threads queue collectives; the queue is first in, first out, so each rank issues its
// collectives in the order they were queued (every rank must queue the same ones in the same
// order, as MPI requires). The communication thread sleeps while the queue is empty and, during
// a collective, polls its non-blocking request, yielding the core between polls: MPI makes
// progress only inside its calls, and a blocking call would spin a whole core that backward
// needs.
//
// Errors: MPI errors are returned (MPI_ERRORS_RETURN) and become tandem::Error (category Io)
// naming the call; a queued collective rethrows its error from its future. abort() ends every
// rank of the job, also when the communication thread is inside a collective that will never
// complete because a peer died.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tandem::dist {

// What the launcher told this process: Open MPI's mpirun sets OMPI_COMM_WORLD_RANK/SIZE;
// MPICH's Hydra and Slurm's PMI set PMI_RANK/PMI_SIZE.
struct Launch {
  int rank = 0;
  int size = 1;
};

// The launch from the environment; nullopt when no MPI launcher started the process. A value
// that is not a number, or a rank outside [0, size), is an error naming the variable.
[[nodiscard]] std::optional<Launch> launch_from_environment();

// True when this build of Tandem has MPI support (TANDEM_HAVE_MPI).
[[nodiscard]] bool built_with_mpi() noexcept;

// When a queued collective ran on the communication thread, for the trace.
struct CommTiming {
  std::chrono::steady_clock::time_point start, end;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  [[nodiscard]] virtual int rank() const noexcept = 0;
  [[nodiscard]] virtual int size() const noexcept = 0;

  // Blocking collectives (each waits for its turn in the queue, then for its completion).
  // Copies @p data of rank @p root into @p data of every rank.
  virtual void broadcast(std::span<float> data, int root) = 0;
  // Every rank's @p text, by rank.
  [[nodiscard]] virtual std::vector<std::string> allgather(const std::string& text) = 0;
  // The sum of @p value over the ranks.
  [[nodiscard]] virtual double allreduce_sum(double value) = 0;

  // Queues an in-place sum of @p data over the ranks and returns at once. On the communication
  // thread, @p before runs first (e.g. packing gradients into @p data) and @p after last
  // (unpacking); either may be empty. @p data must stay alive until the future is ready.
  [[nodiscard]] virtual std::future<CommTiming> start_allreduce_sum(std::span<float> data, std::function<void()> before,
                                                                    std::function<void()> after) = 0;

  // Ends every process of the job with exit status @p code (MPI_Abort), without waiting for
  // queued collectives. Callers print their message first.
  [[noreturn]] virtual void abort(int code) noexcept = 0;
};

// The job this process is a rank of: a Communicator when an MPI launcher started it with two or
// more ranks, null otherwise (one process: train alone). Started with several ranks by a build
// without MPI, it is an error rather than N processes each training alone into the same outputs.
[[nodiscard]] std::unique_ptr<Communicator> join_job();

}  // namespace tandem::dist
