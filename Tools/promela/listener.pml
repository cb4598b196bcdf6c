/*
 * Delivering durable records to a listener on the publishing threads
 * (Sources/Journal/Follow/JournalListener.swift published, requestEnd,
 * drain, deliverLocked; FollowerHub.swift published, addListener, close;
 * Follow/Journal+Listening.swift listen), model-checked by spin.
 *
 * Two completers raise the journal's durable LSN (under the journal's lock:
 * only upwards), then publish it to the hub, in either order; the hub keeps
 * the highest and hands each publication that raised it to the listeners
 * it holds, outside its lock. A listener delivers on the thread of a
 * publication: it raises its target to the LSN, then, while it has work
 * (target above what it delivered, or an end requested), tries its lock;
 * the thread that takes it delivers through the target (and ends the
 * listener if an end was requested), lets the lock go and checks again;
 * one that finds the lock taken leaves at once. The listener is added by a
 * registrant (`listen`) that then delivers what was durable at the add; it
 * may be cancelled at any moment; the journal closes once both completers
 * stored their LSN, and the close asks the listener to end after the final
 * durable LSN. (A followed journal whose tail fails ends its listeners
 * with the same end request, carrying the error: the close's stands for
 * both.)
 *
 * Checked:
 *  - every record delivered is durable (assertion in deliver); the lock's
 *    holder alone delivers, from the last record delivered on, so each
 *    record once and in order (a delivery is one step here: which thread
 *    delivers, and when, is what the check is about);
 *  - the end handler runs exactly once, and an end by the close comes
 *    after every record durable before it (assertions in finish);
 *  - no lost delivery: once the completers and the registrant are done
 *    and no thread is delivering, the listener delivered every durable
 *    record, unless it is being cancelled or the close took over
 *    (assertion in Observer); once every thread is done, it ended, and
 *    unless it was cancelled it delivered every record (assertion in
 *    init).
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_NO_RECHECK      a thread delivers once and leaves, without checking
 *                       for work after it lets the lock go;
 *   BUG_END_FIRST       an end request is stored before the target is
 *                       raised to its LSN;
 *   BUG_LOAD_FIRST      the registrant loads the durable LSN before it adds
 *                       the listener to the hub.
 */

/* Partial-order reduction on, states compressed.
   check.sh safety-cflags: -DCOLLAPSE */

#define N 3

byte durable = 0;      /* the journal's durable LSN */
byte published = 0;    /* the hub's highest published LSN */
bool closed = false;   /* the hub's close mark */
bool inHub = false;    /* the listener is in the hub */
bool added = false;    /* the registrant added it */
byte running = 3;      /* completers and registrant not yet done */
byte draining = 0;     /* threads in drain (observation only) */
bool cancelling = false;
byte stored = 0;       /* completers whose last LSN is stored */

/* The listener */
byte target = 0;
byte delivered = 0;    /* the last LSN delivered */
bool ending = false;
byte request = 0;      /* 0: none, 1: closed, 2: cancelled (under its lock) */
byte through = 0;      /* the close's LSN */
bool finished = false;
bool locked = false;
byte ends = 0;         /* end handler calls */

inline raise(v) {
    atomic { if :: target < v -> target = v :: else -> skip fi }
}

/* code: JournalListener.finishLocked */
inline finish(reason) {
    finished = true;
    inHub = false;
    ends++;
    assert(ends == 1);
    assert(reason != 1 || delivered >= through)
}

/* code: JournalListener.deliverLocked, the lock held. One step: the
 * records from delivered+1 through the target, in order (the lock's
 * holder alone delivers, so each once), then the end if one was asked
 * for. Which thread delivers, and when, is what the check is about. */
inline deliver() {
    atomic {
        if
        :: finished -> skip
        :: !finished && request == 2 -> finish(2)
        :: !finished && request != 2 ->
            assert(target <= durable);
            if :: target > delivered -> delivered = target :: else -> skip fi;
            if :: request == 1 -> finish(1) :: else -> skip fi
        fi
    }
}

/* code: JournalListener.drain: while hasWork(), tryLock() (the loads of
 * hasWork and the try taken as one step) */
inline drain() {
    draining++;
    do
    :: atomic { !finished && (ending || target > delivered) && !locked -> locked = true };
        deliver();
        locked = false
#ifndef BUG_NO_RECHECK
        ; skip
#else
        ; break
#endif
    :: atomic { finished || !(ending || target > delivered) || locked } -> break
    od;
    draining--
}

/* code: JournalListener.requestEnd */
inline requestEnd(reason, lsn) {
#ifndef BUG_END_FIRST
    raise(lsn);
    atomic { if :: request == 0 -> request = reason; through = lsn :: else -> skip fi };
#else
    atomic { if :: request == 0 -> request = reason; through = lsn :: else -> skip fi };
    raise(lsn);
#endif
    ending = true;
    drain()
}

/* A completer publishes `first`, then `second`. */
proctype Completer(byte first; byte second) {
    byte lsn = first;
    bool advanced, deliverTo;
    do
    :: lsn != 0 ->
        /* code: publishDurableLocked, the journal's lock held */
        atomic {
            if
            :: lsn > durable -> durable = lsn; advanced = true
            :: else -> advanced = false
            fi;
            if :: lsn == second -> stored++ :: else -> skip fi
        };
        /* code: FollowerHub.published, the hub's lock held */
        atomic {
            deliverTo = false;
            if
            :: advanced && lsn > published -> published = lsn; deliverTo = inHub
            :: else -> skip
            fi
        };
        if
        :: deliverTo -> raise(lsn); drain()
        :: else -> skip
        fi;
        if
        :: lsn == first -> lsn = second
        :: else -> lsn = 0
        fi
    :: else -> break
    od;
    running--
}

/* code: Journal.listen */
proctype Registrant() {
    bool ended;
    byte d, p;
#ifndef BUG_LOAD_FIRST
    skip;
#else
    d = durable;
#endif
    /* code: FollowerHub.addListener */
    atomic {
        ended = closed;
        p = published;
        if :: !ended -> inHub = true :: else -> skip fi;
        added = true
    };
    if
    :: ended -> requestEnd(1, p)
    :: else -> skip
    fi;
#ifndef BUG_LOAD_FIRST
    d = durable;
#endif
    raise(d);
    drain();
    running--
}

/* code: JournalListener.cancel, perhaps never; only once `listen`
 * added the listener (it returns it then). */
proctype Canceller() {
    added;
    if
    :: true ->
        cancelling = true;
        inHub = false;
        requestEnd(2, 0)
    :: true -> skip
    fi
}

/* code: Journal.close -> FollowerHub.close(durable:) */
proctype Closer() {
    bool had;
    byte p;
    stored == 2;
    atomic {
        if :: durable > published -> published = durable :: else -> skip fi;
        closed = true;
        had = inHub;
        inHub = false;
        p = published
    };
    if
    :: had -> requestEnd(1, p)
    :: else -> skip
    fi
}

/* Before the close: once the completers and the registrant are done and
 * no thread is in drain, the listener delivered every durable record (the
 * close would deliver the rest and hide a lost delivery), unless it is
 * being cancelled. Once the close took the final LSN, a publication still
 * on its way delivers nothing: the close's end request delivers it, which
 * init's assertion checks. */
proctype Observer() {
    running == 0 && draining == 0;
    assert(closed || cancelling || delivered == durable)
}

init {
    atomic {
        run Completer(1, 3);
        run Completer(2, 3);
        run Registrant();
        run Canceller();
        run Closer();
        run Observer()
    }
    _nr_pr == 1;
    assert(finished && ends == 1);
    assert(request == 2 || delivered == N)
}
