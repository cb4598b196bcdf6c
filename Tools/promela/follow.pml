/*
 * Following the journal from other processes (journal-format.md, section
 * 11), model-checked by spin.
 *
 * A writer writes records to its segments (`written`: on the file, perhaps
 * not yet durable), makes them durable, and publishes the durable LSN in the
 * follow file: it stores `durable`, bumps the futex word `seq`, and wakes the
 * futex if `sleepers` counts anyone. The writer may crash at any step; a new
 * writer then recovers (the records on the files survive a process crash),
 * publishes its recovered log and goes on; it closes cleanly at the end: it
 * stores `closed` (the follow file's closedIncarnation) after its last
 * publication, bumps `seq` and wakes the sleepers. Followers read every
 * record up to the published durable LSN, then sleep: they count
 * themselves among the sleepers, read `seq`, check `durable` and `closed`
 * once more, and wait on the futex while it still holds the value read.
 * They end when the writer closed cleanly and they read every record it
 * published (the followers of `openForFollowing(untilWriterCloses: true)`;
 * other followers wait for the next writer, which the crash case covers).
 *
 * How a follower opening beside the writer reads segment files the writer
 * is changing (truncation, recycling, headers being written) is the model
 * of its own, followopen.pml.
 *
 * Code: Sources/Journal/Follow/SharedFollowState.swift (publishDurable,
 * detachWriter, wake, sleep), Follow/LogTail.swift (run: reads up to the
 * published durable LSN only; reads `closed` before `durable`).
 *
 * Checked:
 *  - a follower never reads a record the writer has not made durable
 *    (assertion in Follower), and reads each record once, in order;
 *  - a follower that ends with the writer's clean close has read every
 *    record the writer made durable (assertion in Follower);
 *  - no lost wake-up: spin's invalid-end-state check finds a follower asleep
 *    on the futex after the last writer is done (the only valid end is
 *    every follower having read every record);
 *  - across a writer crash at any step, the restarted writer's publication
 *    wakes the followers.
 *
 * Not modelled: the futex wait's timeout (a follower wakes at least every
 * 500 ms to check that the follow file is still the journal's). It only
 * adds returns from the wait, after which the follower checks again; the
 * model shows no wake-up is lost without it.
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_CHECK_BEFORE_COUNT  a follower checks `durable` before it counts
 *                           itself among the sleepers and reads `seq`;
 *   BUG_READ_WRITTEN        a follower reads what is on the files, not what
 *                           the writer published as durable;
 *   BUG_NO_WAKE             the writer bumps `seq` but never wakes the futex
 *                           (neither when it publishes nor when it closes);
 *   BUG_NO_CLOSE_WAKE       the closing writer stores `closed` but neither
 *                           bumps `seq` nor wakes the futex;
 *   BUG_CLOSE_FIRST         the closing writer stores `closed` before its
 *                           last publication.
 */

#define N 3        /* records the writers append */
#define F 2        /* followers */

byte written = 0;      /* records on the segment files */
byte madeDurable = 0;  /* records on stable storage */
byte durable = 0;      /* the follow file's durableLSN */
byte seq = 0;          /* the follow file's futex word */
byte sleepers = 0;     /* the follow file's count of sleepers */
bool asleep[F];        /* follower i waits in futex_wait */
bool closed = false;   /* the follow file's closedIncarnation is the writer's */
bool crashed = false;
bool writersDone = false;
byte readers = 0;      /* followers that read all N records */

/* futex_wake(seq, all) */
inline wakeAll() {
    atomic {
        asleep[0] = false;
        asleep[1] = false
    }
}

/* code: SharedFollowState.publishDurable then wake */
inline publish(lsn) {
    durable = lsn;
    seq++;
#ifndef BUG_NO_WAKE
    if
    :: sleepers > 0 -> wakeAll()
    :: else -> skip
    fi
#endif
}

proctype Writer() {
    /* First session: may crash at any step. */
    do
    :: written < N ->
        written++;
        if :: true -> skip :: true -> crashed = true; goto restart fi;
        madeDurable = written;
        if :: true -> skip :: true -> crashed = true; goto restart fi;
        publish(written);
        if :: true -> skip :: true -> crashed = true; goto restart fi
    :: else -> break
    od;
restart:
    /* The next session recovers what the files hold (a process crash
     * loses nothing written) and publishes it: code: attachWriter. */
    madeDurable = written;
    publish(written);
    do
    :: written < N ->
        written++;
        madeDurable = written;
#ifndef BUG_CLOSE_FIRST
        publish(written)
#else
        if
        :: written == N -> closed = true
        :: else -> skip
        fi;
        publish(written)
#endif
    :: else -> break
    od;
    /* Clean close: code: detachWriter, after the last publication. */
    closed = true;
#ifndef BUG_NO_CLOSE_WAKE
    seq++;
#ifndef BUG_NO_WAKE
    if
    :: sleepers > 0 -> wakeAll()
    :: else -> skip
    fi;
#endif
#endif
    writersDone = true
}

proctype Follower(byte i) {
    byte mine = 0;   /* last LSN read */
    byte s;
    byte top;
    bool ending;
    do
    :: true ->
        /* code: LogTail.run: `closed` read before `durable` */
        ending = closed;
#ifndef BUG_READ_WRITTEN
        top = durable;
#else
        top = written;
#endif
        if
        :: ending && top == mine ->
            assert(mine == N);
            break
        :: top > mine ->
            /* Read records mine+1 ... top: each durable, once, in order. */
            do
            :: mine < top ->
                mine++;
                assert(mine <= madeDurable)
            :: else -> break
            od
        :: top <= mine && !ending ->
            /* code: SharedFollowState.sleep */
#ifndef BUG_CHECK_BEFORE_COUNT
            sleepers++;
            s = seq;
            if
            :: durable > mine || closed -> skip
            :: else ->
                atomic { if :: seq == s -> asleep[i] = true :: else -> skip fi };
                !asleep[i]
            fi;
            sleepers--
#else
            if
            :: durable > mine || closed -> skip
            :: else ->
                sleepers++;
                s = seq;
                atomic { if :: seq == s -> asleep[i] = true :: else -> skip fi };
                !asleep[i];
                sleepers--
            fi
#endif
        fi
    od;
    readers++
}

init {
    atomic {
        run Writer();
        run Follower(0);
        run Follower(1)
    }
    (writersDone && readers == F);
    assert(durable == N && madeDurable == N)
}

ltl progress { <> (readers == F) }
