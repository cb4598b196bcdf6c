#include "CValgrind.h"

// Valgrind's client requests are inline-assembly macros Swift cannot import.
// They are no-ops (a few instructions) outside valgrind, and the header comes
// with Debian's valgrind package; without it these do nothing.
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define CJOURNAL_HAVE_VALGRIND 1
#endif
#endif

void cjournal_callgrind_start(void) {
#ifdef CJOURNAL_HAVE_VALGRIND
    CALLGRIND_START_INSTRUMENTATION;
#endif
}

void cjournal_callgrind_stop(void) {
#ifdef CJOURNAL_HAVE_VALGRIND
    CALLGRIND_STOP_INSTRUMENTATION;
#endif
}

void cjournal_callgrind_toggle_collect(void) {
#ifdef CJOURNAL_HAVE_VALGRIND
    CALLGRIND_TOGGLE_COLLECT;
#endif
}

int cjournal_running_on_valgrind(void) {
#ifdef CJOURNAL_HAVE_VALGRIND
    return RUNNING_ON_VALGRIND ? 1 : 0;
#else
    return 0;
#endif
}
