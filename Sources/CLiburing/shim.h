// liburing 2.3. Do not define _GNU_SOURCE here: it clashes with Glibc's module.
//
// liburing.h defines _XOPEN_SOURCE and _GNU_SOURCE before including system
// headers; if those headers were first parsed under these macros here, their
// declarations (fd_set, for one) would differ from the Glibc module's and the
// two modules could not be imported together. So every system header that
// liburing.h includes is included first, with the default feature macros;
// its own inclusions are then no-ops.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <linux/swab.h>
// The kernel's <linux/io_uring.h> comes before liburing's private copy of it
// (same include guard), which is then skipped: swift-system and other
// modules include the kernel header, and two definitions of
// `struct io_uring_sqe` would not merge.
#include <linux/io_uring.h>
#include <liburing.h>
