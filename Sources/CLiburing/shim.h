// liburing 2.3. Do not define _GNU_SOURCE here: it clashes with Glibc's module.
//
// The kernel's <linux/io_uring.h> comes first so that liburing's private copy
// of it (same include guard) is skipped: swift-system's CSystem module also
// includes the kernel header, and two different definitions of
// `struct io_uring_sqe` would not merge when both modules are imported.
#include <linux/io_uring.h>
#include <liburing.h>
#include <fcntl.h>
