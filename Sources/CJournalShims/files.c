#define _GNU_SOURCE
#include "CJournalShims.h"
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

int cjournal_dio_alignment(int fd, uint32_t *memory_align, uint32_t *offset_align) {
    struct statx stx;
    *memory_align = 0;
    *offset_align = 0;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0) return -1;
    if (stx.stx_mask & STATX_DIOALIGN) {
        // Glibc 2.36's struct statx predates these fields; the kernel ABI puts
        // stx_dio_mem_align at 0x98 and stx_dio_offset_align at 0x9c.
        _Static_assert(sizeof(struct statx) == 0x100, "statx ABI size");
        memcpy(memory_align, (const char *)&stx + 0x98, 4);
        memcpy(offset_align, (const char *)&stx + 0x9c, 4);
    }
    return 0;
}

int cjournal_ofd_trylock(int fd) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int cjournal_o_direct(void) { return O_DIRECT; }
int cjournal_o_dsync(void) { return O_DSYNC; }
int cjournal_o_directory(void) { return O_DIRECTORY; }
int cjournal_o_cloexec(void) { return O_CLOEXEC; }

#include <sys/eventfd.h>
int cjournal_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }


#include <sys/uio.h>
#include <unistd.h>
#include <sys/vfs.h>

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif

long cjournal_pwrite_dsync(int fd, const void *buffer, size_t count, int64_t offset) {
    struct iovec vector = { .iov_base = (void *)buffer, .iov_len = count };
    ssize_t n = pwritev2(fd, &vector, 1, (off_t)offset, RWF_DSYNC);
    if (n < 0 && (errno == ENOSYS || errno == EOPNOTSUPP)) {
        // A kernel or seccomp profile without pwritev2: the file's O_DSYNC
        // still makes pwrite durable.
        n = pwrite(fd, buffer, count, (off_t)offset);
    }
    return (long)n;
}

int64_t cjournal_file_system_type(int fd) {
    struct statfs buffer;
    if (fstatfs(fd, &buffer) != 0) return -1;
    return (int64_t)(uint64_t)buffer.f_type;
}

int cjournal_fallocate(int fd, int64_t bytes) {
    return fallocate(fd, 0, 0, (off_t)bytes);
}
