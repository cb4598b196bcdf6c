#ifndef CJOURNALCONCURRENCY_H
#define CJOURNALCONCURRENCY_H

// Thread and memory-ordering calls Swift cannot express: the futex parking
// spot, membarrier, the thread-local writer slot, thread names, and compiler
// barriers and prefetch hints that must inline.

#include <stddef.h>
#include <stdint.h>

/// Names the calling thread (15 characters at most).
void cjournal_set_thread_name(const char *name);

/// Blocks until `cjournal_unpark` is called on `state` (or was, since the
/// last return): a one-shot parking spot over a futex. `state` starts at 0.
void cjournal_park(uint32_t *state);
/// Wakes the thread parked on `state`, or makes its next park return at once.
void cjournal_unpark(uint32_t *state);

/// Registers the process for `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
/// after checking with MEMBARRIER_CMD_QUERY that the kernel offers it.
/// Returns 0 when later calls of `cjournal_membarrier_private_expedited` will
/// work, -1 with errno set otherwise (ENOSYS, EINVAL on old kernels).
int cjournal_membarrier_register_private_expedited(void);

/// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every thread of this process
/// that is running on some CPU executes a full memory barrier before the call
/// returns (threads not running passed one at their last context switch).
/// Returns 0, or -1 with errno set (EPERM if the process is not registered).
int cjournal_membarrier_private_expedited(void);

/// A compiler-only barrier (`atomic_signal_fence(memory_order_seq_cst)`): the
/// compiler keeps memory accesses on their side of it; the CPU may not.
static inline void cjournal_compiler_barrier(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/// One word per thread for the paged file's writer slots (0 until the thread
/// first writes). Inline so that reading it is one thread-local load.
extern _Thread_local uintptr_t cjournal_writer_slot_word;
static inline uintptr_t cjournal_writer_slot(void) { return cjournal_writer_slot_word; }
static inline void cjournal_set_writer_slot(uintptr_t value) { cjournal_writer_slot_word = value; }

/// The address of the journal whose listener this thread is delivering
/// records to (inside a listener's handler), or 0: a call that would wait
/// for that journal refuses rather than wait for its own thread.
extern _Thread_local uintptr_t cjournal_listening_journal_word;
static inline uintptr_t cjournal_listening_journal(void) { return cjournal_listening_journal_word; }
static inline void cjournal_set_listening_journal(uintptr_t value) { cjournal_listening_journal_word = value; }

/// A hint to start loading the cache line at `address` for reading
/// (`__builtin_prefetch`). Never faults, changes nothing a program can
/// observe: any address will do.
static inline void cjournal_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// Sleeps on the shared futex at `word` (a word of a `MAP_SHARED` mapping
/// that other processes map too) while it holds `expected`, for at most
/// `timeout_nanos`; returns at once if it does not hold it. Returns on a
/// wake, the timeout, a signal or a spurious wake-up: the caller re-checks
/// its condition.
void cjournal_futex_wait_shared(uint32_t *word, uint32_t expected, uint64_t timeout_nanos);
/// Wakes every thread, in any process, sleeping on the shared futex `word`.
void cjournal_futex_wake_shared(uint32_t *word);

/// Sequentially consistent atomics on memory that other processes share
/// (Swift's `Atomic` needs storage it owns).
static inline uint64_t cjournal_shared_load64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void cjournal_shared_store64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t cjournal_shared_load32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline uint32_t cjournal_shared_add32(uint32_t *p, int32_t delta) { return __atomic_add_fetch(p, (uint32_t)delta, __ATOMIC_SEQ_CST); }
/// A full (sequentially consistent) memory fence.
static inline void cjournal_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#endif
