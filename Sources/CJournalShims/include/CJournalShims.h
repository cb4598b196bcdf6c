#ifndef CJOURNALSHIMS_H
#define CJOURNALSHIMS_H

// CRC32C and the file calls Swift cannot express: statx(STATX_DIOALIGN),
// open(2) flags that do not import, eventfd,
// pwritev2(RWF_DSYNC), the file system type.

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

/// Takes an exclusive open-file-description lock (F_OFD_SETLK, F_WRLCK) on
/// the whole of `fd`'s file without waiting: owned by the open file, so two
/// opens in one process exclude each other, and released when its last
/// descriptor closes (or the process dies). Returns 0, or -1 with errno set
/// (EAGAIN or EACCES while another holds it).
int cjournal_ofd_trylock(int fd);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int cjournal_eventfd(void);

/// pwritev2(fd, {buffer, count}, 1, offset, RWF_DSYNC): returns when the
/// bytes are durable. Falls back to pwrite (durable on an O_DSYNC file) where
/// pwritev2 is unavailable. Returns the count written, or -1 with errno set.
long cjournal_pwrite_dsync(int fd, const void *buffer, size_t count, int64_t offset);

/// The file system type (statfs f_type, e.g. 0x65735546 for FUSE) of the
/// file system holding `fd`, or -1 with errno set.
int64_t cjournal_file_system_type(int fd);

/// Allocates the first `bytes` of `fd` (`fallocate` mode 0: the file grows
/// to at least `bytes`). Returns 0, or -1 with errno set.
int cjournal_fallocate(int fd, int64_t bytes);

#endif
