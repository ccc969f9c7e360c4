#pragma once
// oneTBB under ThreadSanitizer.
//
// Debian's libtbb is not built with TSan, so TSan cannot see the ordering its task hand-offs
// give (a spawn before the task runs, a task's end before the wait that covers it returns), and
// every oneTBB task looks like a race in TBB's own header code. TSan builds therefore run oneTBB
// with one thread: CPU tasks and parallel loops run on the thread that waits for them, and what
// TSan checks is Tandem's own threads — the executor's device threads against the CPU work, the
// MPI communication thread, the shared caches and counters. Races between chunks of one parallel
// loop are not checked there (the bitwise determinism tests at 1 and 2 threads cover their
// results).

#if defined(__SANITIZE_THREAD__)
#define TANDEM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TANDEM_TSAN 1
#endif
#endif

#if TANDEM_TSAN
#include <oneapi/tbb/global_control.h>

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace tandem::tsan {

#if TANDEM_TSAN
// One instance for the program (an inline variable), alive before main and until exit.
inline const tbb::global_control kOneTbbThread{tbb::global_control::max_allowed_parallelism, 1};
#endif

// Hand-offs remain even with one thread: work a non-TBB thread enqueues into an arena runs on
// a worker TBB starts so that enqueued work always progresses, and that worker and the waiting
// thread then share the tasks and loop chunks. Each hand-off releases a token before the spawn
// and the task acquires it first; the task releases another token at its end and the waiter
// acquires it. No-ops outside TSan builds. The tokens are addresses only: static ones,
// so a task reaches them without reading its own (handed-off) closure first.
inline const char kHandOff = 0, kTaskDone = 0;
inline void release([[maybe_unused]] const void* token) {
#if TANDEM_TSAN
  __tsan_release(const_cast<void*>(token));
#endif
}
inline void acquire([[maybe_unused]] const void* token) {
#if TANDEM_TSAN
  __tsan_acquire(const_cast<void*>(token));
#endif
}

}  // namespace tandem::tsan
