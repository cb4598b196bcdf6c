/*
 * The journal's group-commit protocol, model-checked by spin.
 *
 * Appenders reserve room for records in a filling batch under one lock;
 * appender 0 appends large records, which it copies in after letting go of
 * the lock (a batch counts the copies still running), the others small
 * ones, copied under it; one I/O thread moves sealed batches (then the filling batch, if
 * it holds records) in flight while fewer than IFM are, stopping at the
 * first batch with a copy pending, chains and submits them, waits for
 * completions, and advances the durable LSN over the completed prefix of the
 * in-flight FIFO. Completions come back in any order and a write may fail,
 * which poisons the journal.
 *
 * An appender's last record may take the inline path (JournalOptions.inlineWrites,
 * as appendBlocking does; an async append does while the recent writes were
 * fast, so either choice is explored): in the lock section that places the record (or
 * that counts its last copy in), if nothing is in flight or sealed and no
 * copy into the filling batch is pending, the appender seals that batch,
 * moves it in flight and chains it; then it writes it itself, outside the
 * lock (success or failure, as the disk decides), and completes it under
 * the lock as the I/O thread completes its writes, waking the I/O thread if
 * it sleeps with a batch to submit. The I/O thread never waits on the ring
 * for the inline write (the ring does not hold it).
 *
 * An async append of a small record that does not write inline registers
 * its waiter in the lock section that places the record (one hold of the
 * lock, Writer/TaskAppend.swift), then suspends; a blocking one registers
 * in a lock section of its own after placing. Both are explored.
 *
 * Each locked section of the code is one `atomic` block here; what the code
 * does outside the lock (submitting, waiting, waking) is a separate step, so
 * spin interleaves appenders, the I/O thread and the disk in every order.
 * Steps name their code: `code: File.swift function`.
 *
 * Checked:
 *  - durableLSN only grows and never covers a record whose batch has not
 *    completed; it moves batch by batch over the submission order, without
 *    gaps (assertions in `advance`);
 *  - an append succeeds only when its record and every earlier one are
 *    durable, also after a failure (assertion in Appender);
 *  - every LSN is assigned once and lands in exactly one batch, batches hold
 *    consecutive LSNs, and when every append succeeded every record is
 *    durable (no loss, no duplicate);
 *  - at most B buffers, a buffer is taken only when free and never while the
 *    disk may still read it or an appender still copies into it;
 *  - no batch is chained and submitted before every record in it has been
 *    copied in (assertion at submission);
 *  - batches are chained in LSN order, each right after the one before,
 *    whether the I/O thread (outside the lock) or an inline writer (under
 *    it) chains them (assertion in `chainBatch`: `chainedCRC` has one owner
 *    at a time);
 *  - no lost wake-up: spin's invalid-end-state check finds the I/O thread
 *    asleep while appenders wait on work it never submits, or an appender
 *    parked while nobody will unpark it (an appender registers its parker
 *    under the lock; the writer, under the lock, takes the parkers whose LSN
 *    became durable, or all of them on a failure, and unparks them after
 *    letting go of it; an unpark before the park is kept), and the I/O
 *    thread asleep while the batch it must submit next waits for a copy
 *    (the appender that finishes the batch's last copy wakes it);
 *  - progress (ltl `progress`, under weak fairness): every appender returns.
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_ACK_ON_COMPLETION  durableLSN jumps to a batch's last LSN when that
 *                          batch completes, not over the in-order prefix;
 *   BUG_FREE_ON_SUBMIT     a buffer is freed as soon as its write is submitted;
 *   BUG_SLEEP_UNLOCKED     the I/O thread marks itself sleeping after it lets
 *                          go of the lock, so an appender can miss it;
 *   BUG_REGISTER_UNLOCKED  an appender checks the durable LSN under the lock
 *                          but registers its parker after letting go of it,
 *                          so the wake-up can pass it by;
 *   BUG_SUBMIT_PENDING     the I/O thread submits a batch whose copies are
 *                          still running;
 *   BUG_COPY_NO_NUDGE      an appender that finishes a batch's last copy does
 *                          not wake the sleeping I/O thread;
 *   BUG_INLINE_WHILE_IN_FLIGHT  an appender takes the filling batch for an
 *                          inline write while batches are in flight (it
 *                          skips the check that the I/O thread holds no
 *                          batch it may still be chaining);
 *   BUG_INLINE_CHAIN_UNLOCKED  the inline writer chains its batch after
 *                          letting go of the lock, so the I/O thread can
 *                          chain the next batch first.
 *
 * Bounds: NA appenders of R records, batches of CAP records, IFM batches in
 * flight, at most MAXFAIL failed writes, and B buffers. The code has
 * B = IFM + 2; the default here is IFM + 1 so that, within bounds small
 * enough for `make test`, appenders do run out of buffers and wait (the
 * protocol does not rely on the margin; -DB=4 checks the code's pool, where
 * the wait is unreachable at these bounds). -DNA=3 is exhaustive too but
 * takes minutes and gigabytes.
 */

/* Partial-order reduction on, states compressed:
   check.sh safety-cflags: -DCOLLAPSE */

#ifndef NA
#define NA 2
#endif
#ifndef R
#define R 3
#endif
#ifndef CAP
#define CAP 2
#endif
#define IFM 2
#ifndef B
#define B 3            /* IFM + 1: see the bounds above; `pickAtDisk` spells out 3 or 4 */
#endif
#define NREC (NA * R)
#define MAXFAIL 1
#define NONE 255

#ifndef BUG_ACK_ON_COMPLETION
#define BUG_ACK_ON_COMPLETION 0
#endif
#ifndef BUG_FREE_ON_SUBMIT
#define BUG_FREE_ON_SUBMIT 0
#endif
#ifndef BUG_SLEEP_UNLOCKED
#define BUG_SLEEP_UNLOCKED 0
#endif
#ifndef BUG_REGISTER_UNLOCKED
#define BUG_REGISTER_UNLOCKED 0
#endif
#ifndef BUG_SUBMIT_PENDING
#define BUG_SUBMIT_PENDING 0
#endif
#ifndef BUG_COPY_NO_NUDGE
#define BUG_COPY_NO_NUDGE 0
#endif
#ifndef BUG_INLINE_WHILE_IN_FLIGHT
#define BUG_INLINE_WHILE_IN_FLIGHT 0
#endif
#ifndef BUG_INLINE_CHAIN_UNLOCKED
#define BUG_INLINE_CHAIN_UNLOCKED 0
#endif

mtype = { FREE, FILLING, SEALED, INFLIGHT };

/* Writer state, guarded by the journal's lock (code: Journal.swift, the
   stored properties `filling`, `sealed`, `inFlight`, `freeBatches`). */
mtype bstate[B] = FREE;
byte bcount[B];                /* records in the batch */
byte bfirst[B];                /* its first and last LSN */
byte blast[B];
bool bdone[B];                 /* completed successfully (Batch.completed) */
byte bpending[B];              /* copies still running (Batch.pendingCopies) */
byte filling = NONE;
chan sealedq = [B] of { byte };
chan inflightq = [IFM] of { byte };    /* submission order */
byte nfree = B;
byte nextLSN = 1;
byte durableLSN = 0;
bool poisoned = false;
bool ioSleeping = false;
byte inlineInFlight = 0;       /* code: Journal.swift inlineInFlight */

/* The write queue: the owner's wake flag (sticky, as an eventfd) and the
   writes the disk holds. */
bool woken = false;
bool atDisk[B];                /* submitted, completion not yet reported */
byte failures = 0;

/* Ghost state for the checks. */
bool onDisk[NREC + 1];         /* the record's batch completed successfully */
byte placedCount[NREC + 1];    /* how many batches the LSN went into */
bool copied[NREC + 1];         /* the record's bytes are in its batch */
byte returned = 0;             /* appenders finished */
byte chainedLSN = 0;           /* last LSN chained (what chainedCRC covers) */
byte succeeded = 0;            /* appenders whose appends all succeeded */

/* Durability waiters (code: Journal.swift durableWaiters, Parker): the LSN an
   appender waits for while registered (0: not registered), and its parking
   spot (an unpark that comes before the park is kept). */
byte waitLSN[NA];
bool unparked[NA];

inline takeFree(b) {
    /* code: Journal.swift placeLocked (freeBatches.popLast) */
    assert(nfree > 0);
    b = B - 1;
    do
    :: bstate[b] == FREE -> break
    :: else -> assert(b > 0); b--
    od;
    assert(!atDisk[b]);        /* never reused while the disk reads it */
    assert(bpending[b] == 0);  /* nor while an appender copies into it */
    nfree--;
    bstate[b] = FILLING;
    bcount[b] = 0;
    bdone[b] = false
}

inline seal() {
    /* code: Journal.swift sealFillingLocked */
    assert(filling != NONE && bcount[filling] > 0);
    bstate[filling] = SEALED;
    sealedq!filling;
    filling = NONE
}

inline release(b) {
    /* code: Journal.swift complete (first.reset(); freeBatches.append) */
    assert(bstate[b] != FREE);
    assert(bpending[b] == 0);
    bstate[b] = FREE;
    nfree++;
    assert(nfree <= B)
}

/* code: Journal.swift chain: the batch's headers take the checksum of the
   last fragment chained, so batches are chained in LSN order, each right
   after the one before. */
inline chainBatch(b) {
    assert(bfirst[b] == chainedLSN + 1);
    chainedLSN = blast[b]
}

/* code: Journal.swift complete, lock held: advance the durable LSN over the
   completed prefix of the in-flight FIFO, in submission order. */
inline advance(b, l) {
    do
    :: len(inflightq) > 0 ->
        inflightq?<b>;
        if
        :: bdone[b] ->
            inflightq?b;
#if !BUG_ACK_ON_COMPLETION
            assert(bfirst[b] == durableLSN + 1);
#endif
            assert(blast[b] >= durableLSN);
            durableLSN = blast[b];
            l = 1;
            do
            :: l <= durableLSN -> assert(onDisk[l]); l++
            :: else -> break
            od;
            l = 0;
#if !BUG_FREE_ON_SUBMIT
            release(b)
#else
            skip
#endif
        :: else -> break
        fi
    :: else -> break
    od;
    b = 0
}

/* Take the parkers to wake: their LSN is durable, or, after a failure, all
   of them (code: complete, poisonAndUnlock), into the caller's `woke`.
   Lock held. */
inline takeParkers(i) {
    i = 0;
    do
    :: i < NA ->
        if
        :: waitLSN[i] != 0 && (poisoned || waitLSN[i] <= durableLSN) ->
            waitLSN[i] = 0;
            woke[i] = true
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    i = 0
}

/* code: Journal.swift complete (w.wake() after unlock) */
inline unparkTaken(i) {
    i = 0;
    do
    :: i < NA ->
        if
        :: woke[i] -> woke[i] = false; unparked[i] = true
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    i = 0
}

/* Whether the I/O thread may move a batch in flight: the first sealed one,
   or else the filling one if it holds records, when no copy into it is
   pending (code: Journal.swift nextSubmittableLocked). Lock held. */
inline submittable(res, tmp) {
    if
    :: len(sealedq) > 0 -> sealedq?<tmp>;
#if BUG_SUBMIT_PENDING
        res = true
#else
        res = (bpending[tmp] == 0)
#endif
    :: else ->
#if BUG_SUBMIT_PENDING
        res = (filling != NONE && bcount[filling] > 0)
#else
        res = (filling != NONE && bcount[filling] > 0 && bpending[filling] == 0)
#endif
    fi;
    tmp = 0
}

#if BUG_INLINE_WHILE_IN_FLIGHT
#define INFLIGHT_ALLOWS_INLINE (len(inflightq) < IFM)
#else
#define INFLIGHT_ALLOWS_INLINE (len(inflightq) == 0)
#endif

/* code: Journal.swift takeInlineLocked, lock held: the appender whose
   record `lsn` is in the filling batch takes that batch for an inline write
   when the journal is idle; ib = NONE otherwise. */
inline tryTakeInline(ib) {
    if
    :: !poisoned && INFLIGHT_ALLOWS_INLINE && len(sealedq) == 0 && filling != NONE && bcount[filling] > 0 && bpending[filling] == 0 ->
        assert(inlineInFlight == 0);
        assert(bfirst[filling] <= lsn && lsn <= blast[filling]);
        seal();
        sealedq?ib;
        bstate[ib] = INFLIGHT;
        inflightq!ib;
        inlineInFlight = 1;
#if !BUG_INLINE_CHAIN_UNLOCKED
        chainBatch(ib)
#else
        skip
#endif
    :: else -> ib = NONE
    fi
}

/* code: Journal.swift takeInlineLocked's policy (InlineWritePolicy): a
   blocking appender (inlineWrites) always tries; an async one only while
   the inline writes were fast (TaskInlineGate against
   inlineWritesFromTasksMicrosecondsMax), which depends on the disk's
   timing: the model lets every append choose either way. */
inline mayTakeInline(ib) {
    if
    :: true -> tryTakeInline(ib)
    :: true -> ib = NONE
    fi
}

inline pickAtDisk(b) {
    if
    :: atDisk[0] -> b = 0
    :: atDisk[1] -> b = 1
    :: atDisk[2] -> b = 2
#if B > 3
    :: atDisk[3] -> b = 3
#endif
    fi
}

/* An appender adds R records and then waits for the last one, as
   Journal.appendBlocking(contentsOf:) does (enqueue each, then wait once):
   R records outstanding per appender put the buffer pool under pressure. */
proctype Appender(byte id) {
    byte r = 0;
    byte lsn;
    byte l;
    byte mine;                 /* the batch the record is reserved in */
    byte tmp;
    bool wake;
    byte ib = NONE;            /* the batch taken for an inline write */
    bool ok;
    byte i;
    bool woke[NA];             /* parkers taken by an inline completion */
    bool registered = false;   /* the waiter registered while placing */
    do
    :: r < R ->
retry:
        atomic {
            /* code: Journal.swift enqueue -> placeLocked, lock held */
            if
            :: poisoned -> goto failed
            :: else -> skip
            fi;
place:
            if
            :: filling == NONE ->
                if
                :: nfree == 0 -> goto waitForSpace
                :: else -> takeFree(filling)
                fi
            :: else -> skip
            fi;
            if
            :: bcount[filling] == CAP -> seal(); goto place   /* does not fit */
            :: else -> skip
            fi;
            lsn = nextLSN;
            nextLSN++;
            if
            :: bcount[filling] == 0 -> bfirst[filling] = lsn
            :: else -> assert(lsn == blast[filling] + 1)
            fi;
            blast[filling] = lsn;
            bcount[filling]++;
            placedCount[lsn]++;
            assert(placedCount[lsn] == 1);
            if
            :: id == 0 ->
                /* a large record: code: Journal.swift placeLocked (.reserved) */
                bpending[filling]++;
                mine = filling
            :: else ->
                /* a small record, copied at once (.placed); the last one
                   of the appender may be written inline (code: Journal.swift
                   enqueue(_:inline:)) */
                copied[lsn] = true;
                mine = NONE;
                if
                :: r == R - 1 ->
                    mayTakeInline(ib);
                    /* code: Writer/TaskAppend.swift appendSuspending: an
                       async append that did not take the batch registers
                       its waiter in this same hold of the lock (either
                       API may be the caller, so both are explored) */
                    if
                    :: ib == NONE -> registered = true; waitLSN[id] = lsn
                    :: true -> skip
                    fi
                :: else -> skip
                fi
            fi;
            /* code: Journal.swift nudgeWriterLocked (placing may have
               sealed the batch before) */
            submittable(wake, tmp);
            wake = wake && ioSleeping && len(inflightq) < IFM;
            if
            :: wake -> ioSleeping = false
            :: else -> skip
            fi
        }
        /* code: Journal.swift enqueue (waker?.wake() after unlock) */
        if
        :: wake -> woken = true; wake = false
        :: else -> skip
        fi;
        /* code: Journal.swift fill: the copy, outside the lock, then the
           count, under it. One step here: what matters is what can happen
           between the reservation and the end of the copy. */
        if
        :: mine == NONE -> goto copiedIn
        :: else -> skip
        fi;
        atomic {
            assert(bstate[mine] == FILLING || bstate[mine] == SEALED);
            copied[lsn] = true;
            assert(bpending[mine] > 0);
            bpending[mine]--;
#if BUG_COPY_NO_NUDGE
            wake = false;
#else
            if
            :: bpending[mine] == 0 ->
                /* code: Journal.swift fill(_:_:inline:) */
                if
                :: r == R - 1 -> mayTakeInline(ib)
                :: else -> skip
                fi;
                submittable(wake, tmp);
                wake = wake && ioSleeping && len(inflightq) < IFM
            :: else -> wake = false
            fi;
#endif
            if
            :: wake -> ioSleeping = false
            :: else -> skip
            fi;
            mine = 0
        }
        if
        :: wake -> woken = true; wake = false
        :: else -> skip
        fi;
copiedIn:
        mine = 0;
        r++;
        goto next;
waitForSpace:
        /* code: Journal.swift enqueue (spaceChanged.wait(), then placeLocked
           again); the condition variable is signalled under the lock, so a
           guard models it. */
        (nfree > 0 || poisoned);
        goto retry;
next:
        skip
    :: else -> break
    od;
    if
    :: ib != NONE ->
#if BUG_INLINE_CHAIN_UNLOCKED
        atomic { chainBatch(ib) };
#endif
        /* code: Journal.swift writeInline: the durable write, outside the
           lock; the disk decides its outcome. */
        atomic {
            if
            :: ok = true
            :: failures < MAXFAIL -> ok = false; failures++
            fi;
            if
            :: ok ->
                l = bfirst[ib];
                do
                :: l <= blast[ib] -> onDisk[l] = true; l++
                :: else -> break
                od;
                l = 0
            :: else -> skip
            fi
        };
        /* code: Journal.swift complete, lock held (an inline completion) */
        atomic {
            assert(bstate[ib] == INFLIGHT && !bdone[ib] && inlineInFlight == 1);
            inlineInFlight = 0;
            if
            :: ok -> bdone[ib] = true; ok = false; advance(tmp, l)
            :: else -> poisoned = true
            fi;
            takeParkers(i);
            /* code: Journal.swift wakeWriterAfterInlineLocked */
            submittable(wake, tmp);
            wake = wake && ioSleeping && len(inflightq) < IFM;
            if
            :: wake -> ioSleeping = false
            :: else -> skip
            fi;
            ib = NONE
        };
        if
        :: wake -> woken = true; wake = false
        :: else -> skip
        fi;
        unparkTaken(i)
    :: else -> skip
    fi;
    if
    :: registered -> registered = false; goto parked
    :: else -> skip
    fi;
    /* code: Journal.swift waitUntilDurableBlocking(last): under the lock,
       return if durable, fail if poisoned, else register the parker; park
       outside the lock; re-check under the lock when woken. */
checkDurable:
    atomic {
        if
        :: durableLSN >= lsn ->
            /* Success only over a durable prefix: this appender's records
               and every earlier one. */
            l = 1;
            do
            :: l <= lsn -> assert(onDisk[l]); l++
            :: else -> break
            od;
            succeeded++;
            goto finish
        :: poisoned -> goto finish      /* fails */
        :: else ->
#if !BUG_REGISTER_UNLOCKED
            waitLSN[id] = lsn
#else
            skip
#endif
        fi
    };
#if BUG_REGISTER_UNLOCKED
    atomic { waitLSN[id] = lsn };
#endif
    /* code: Parker.park (cjournal_park), or the task's suspension */
    /* not an end state: an appender parked forever is a lost wake-up */
parked:
    atomic { unparked[id] -> unparked[id] = false };
    goto checkDurable;
failed:
    /* code: Journal.swift placeLocked (.failed(.poisoned)) */
    skip;
finish:
    atomic {
        returned++;
        if
        :: returned == NA && succeeded == NA ->
            /* Every append succeeded: every record is durable, once. */
            assert(durableLSN == NREC && nextLSN == NREC + 1);
            l = 1;
            do
            :: l <= NREC -> assert(onDisk[l] && placedCount[l] == 1); l++
            :: else -> break
            od
        :: else -> skip
        fi
    }
}

proctype IOThread() {
    byte b;
    byte toSubmit[IFM];
    byte nsub;
    byte i;
    byte l;
    bool ok;
    bool may;
    byte tmp;
    bool failedSeen;
    bool reported[B];
    bool resultOK[B];
    bool woke[NA];             /* parkers to unpark after the lock */
    bool idle;
    byte ringCount = 0;        /* writes the ring holds (queue.inFlightCount) */
end_loop:
    do
    :: atomic {
        /* code: Journal.swift writerRound, lock held */
        nsub = 0;
        do
        :: len(inflightq) < IFM && !poisoned ->
            submittable(may, tmp);
            if
            :: !may -> break
            :: else -> skip
            fi;
            if
            :: len(sealedq) == 0 -> seal()
            :: else -> skip
            fi;
            sealedq?b;
            bstate[b] = INFLIGHT;
            inflightq!b;
            toSubmit[nsub] = b;
            nsub++
        :: else -> break
        od;
        /* The ring holds no write (code: queue.inFlightCount == 0). Not
           "nothing in flight": an inline write is in flight but not in the
           ring, and batches completed behind it stay in flight until it
           completes. */
        idle = (nsub == 0 && ringCount == 0);
        if
        :: idle ->
#if BUG_SLEEP_UNLOCKED
            skip
#else
            ioSleeping = true
#endif
        :: else ->
            ioSleeping = (len(inflightq) < IFM)
        fi
       };
        if
        :: idle ->
            idle = false;
#if BUG_SLEEP_UNLOCKED
            ioSleeping = true;
#endif
            /* code: Journal.swift writerRound (waitForCompletions with
               nothing in flight: blocks until woken) */
end_sleep:
            woken;
            woken = false;
            atomic { ioSleeping = false }
        :: else ->
            /* code: Journal.swift writerRound (chain, then queue.submit,
               outside the lock): every record of the batch is in it */
            i = 0;
            do
            :: i < nsub ->
                l = bfirst[toSubmit[i]];
                do
                :: l <= blast[toSubmit[i]] -> assert(copied[l]); l++
                :: else -> break
                od;
                l = 0;
                chainBatch(toSubmit[i]);
                assert(!atDisk[toSubmit[i]]);
                atDisk[toSubmit[i]] = true;
                ringCount++;
#if BUG_FREE_ON_SUBMIT
                atomic { release(toSubmit[i]) };
#endif
                i++
            :: else -> break
            od;
            /* code: Journal.swift writerRound (queue.waitForCompletions):
               the disk completes any write in flight, in any order, or a
               wake comes first. */
            failedSeen = false;
            i = 0;
end_wait:
            do
            :: i > 0 -> break
            :: woken && i == 0 -> woken = false; break
            :: atomic {
                pickAtDisk(b);
                atDisk[b] = false;
                ringCount--;
                if
                :: ok = true
                :: failures < MAXFAIL -> ok = false; failures++
                fi;
                if
                :: ok ->
                    /* durable now: its records survive a crash */
                    l = bfirst[b];
                    do
                    :: l <= blast[b] -> onDisk[l] = true; l++
                    :: else -> break
                    od;
                    l = 0
                :: else -> skip
                fi;
                reported[b] = true;
                resultOK[b] = ok;
                ok = false;
                i++
               }
            od;
            /* code: Journal.swift complete, lock held */
            atomic {
                b = 0;
                do
                :: b < B ->
                    if
                    :: reported[b] ->
                        reported[b] = false;
                        assert(bstate[b] == INFLIGHT && !bdone[b]);
                        if
                        :: resultOK[b] ->
                            resultOK[b] = false;
                            bdone[b] = true;
#if BUG_ACK_ON_COMPLETION
                            if
                            :: blast[b] > durableLSN -> durableLSN = blast[b]
                            :: else -> skip
                            fi;
#endif
                            skip
                        :: else -> failedSeen = true
                        fi
                    :: else -> skip
                    fi;
                    b++
                :: else -> break
                od;
                if
                :: failedSeen ->
                    /* code: Journal.swift poisonAndUnlock: every waiter
                       beyond the durable LSN fails (the guards in Appender) */
                    poisoned = true
                :: else ->
                    /* advance over the completed prefix, in submission order */
                    advance(b, l)
                fi;
                b = 0;
                takeParkers(i)
            };
            unparkTaken(i)
        fi
    od
}

init {
    byte a = 0;
    atomic {
        run IOThread();
        do
        :: a < NA -> run Appender(a); a++
        :: else -> break
        od
    }
}

/* Progress: every appender returns (success or failure), under weak fairness. */
ltl progress { <> (returned == NA) }
