#define _GNU_SOURCE
#include "CJournalConcurrency.h"
#include <errno.h>

#include <pthread.h>
void cjournal_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

#include <linux/futex.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

// A parking spot: 0 = nobody notified, 1 = notified. park consumes a
// notification, sleeping on the futex until one arrives; unpark sets it and
// wakes the sleeper. No notification is lost whichever runs first.
void cjournal_park(uint32_t *state) {
    while (__atomic_exchange_n(state, 0, __ATOMIC_ACQUIRE) != 1) {
        syscall(SYS_futex, state, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    }
}

void cjournal_unpark(uint32_t *state) {
    __atomic_store_n(state, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

// Shared (not FUTEX_PRIVATE) futexes: the word lives in a file mapping
// that processes following the journal map too.
void cjournal_futex_wait_shared(uint32_t *word, uint32_t expected, uint64_t timeout_nanos) {
    struct timespec timeout = {
        .tv_sec = (time_t)(timeout_nanos / 1000000000u),
        .tv_nsec = (long)(timeout_nanos % 1000000000u),
    };
    syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, NULL, 0);
}

void cjournal_futex_wake_shared(uint32_t *word) {
    syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

#include <linux/membarrier.h>
int cjournal_membarrier_register_private_expedited(void) {
    long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (supported < 0) return -1;
    long needed = MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
    if ((supported & needed) != needed) {
        errno = EINVAL;
        return -1;
    }
    return (int)syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
}

int cjournal_membarrier_private_expedited(void) {
    return (int)syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

_Thread_local uintptr_t cjournal_writer_slot_word;
_Thread_local uintptr_t cjournal_listening_journal_word;
