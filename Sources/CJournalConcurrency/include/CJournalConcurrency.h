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

/// A hint to start loading the cache line at `address` for reading
/// (`__builtin_prefetch`). Never faults, changes nothing a program can
/// observe: any address will do.
static inline void cjournal_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
