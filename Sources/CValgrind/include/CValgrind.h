#ifndef CVALGRIND_H
#define CVALGRIND_H

// Valgrind's client requests, for the CPU benchmark only.

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

#endif
