#ifndef CJOURNALSHIMS_H
#define CJOURNALSHIMS_H

#include <stddef.h>
#include <stdint.h>

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) continuing from `crc`.
/// Pass 0 to start. Pre- and post-inversion are applied inside, so
/// `cjournal_crc32c(cjournal_crc32c(0, a), b) == cjournal_crc32c(0, a ++ b)`.
/// Uses the SSE4.2 `crc32` instruction when the CPU has it, a table otherwise.
uint32_t cjournal_crc32c(uint32_t crc, const void *bytes, size_t count);

/// Copies `count` bytes from `src` to `dst` (which must not overlap) and
/// returns `cjournal_crc32c(crc, src, count)`, reading the source once.
uint32_t cjournal_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t count);

/// The portable table implementation, exposed so tests can compare both paths.
uint32_t cjournal_crc32c_portable(uint32_t crc, const void *bytes, size_t count);

/// 1 when `cjournal_crc32c` uses the hardware instruction.
int cjournal_crc32c_is_hardware(void);

/// Direct-I/O alignment of an open file from statx(STATX_DIOALIGN).
/// Returns 0 and fills both values on success (they are 0 when the file
/// system does not report them), or -1 with errno set.
int cjournal_dio_alignment(int fd, uint32_t *memory_align, uint32_t *offset_align);

/// The open(2) flag values Swift's Glibc module does not export.
int cjournal_o_direct(void);
int cjournal_o_dsync(void);
int cjournal_o_directory(void);
int cjournal_o_cloexec(void);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int cjournal_eventfd(void);

/// Names the calling thread (15 characters at most).
void cjournal_set_thread_name(const char *name);

/// Blocks until `cjournal_unpark` is called on `state` (or was, since the
/// last return): a one-shot parking spot over a futex. `state` starts at 0.
void cjournal_park(uint32_t *state);
/// Wakes the thread parked on `state`, or makes its next park return at once.
void cjournal_unpark(uint32_t *state);

/// Callgrind's instrumentation switch, for counting the instructions of one
/// region of a run under `valgrind --tool=callgrind --instr-atstart=no`.
/// Instrumentation is global: every thread's instructions between start and
/// stop are counted. No-ops when not under valgrind (or built without
/// valgrind's headers).
void cjournal_callgrind_start(void);
void cjournal_callgrind_stop(void);
/// Switches callgrind's counting off or back on for the calling thread,
/// without the cost of switching instrumentation (to leave a wait out).
void cjournal_callgrind_toggle_collect(void);
/// 1 when the process runs under valgrind (0 also when built without its headers).
int cjournal_running_on_valgrind(void);

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
