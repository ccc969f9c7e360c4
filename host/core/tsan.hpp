#pragma once
// Happens-before edges of oneTBB, stated for ThreadSanitizer.
//
// Debian's libtbb is not built with TSan, so TSan cannot see the ordering its task hand-offs
// give: what a thread wrote before spawning a task is visible to the task, and what a task
// wrote is visible after the wait (or parallel_for) that covers it returns. Without these
// edges every oneTBB task looks like a race. Each hand-off in Tandem releases a token before
// the spawn and acquires it first thing in the task, and each task releases a done-token that
// the waiter acquires. Outside TSan builds the calls compile to nothing.

#if defined(__SANITIZE_THREAD__)
#define TANDEM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TANDEM_TSAN 1
#endif
#endif

#if TANDEM_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace tandem::tsan {

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
