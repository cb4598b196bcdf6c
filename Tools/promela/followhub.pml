/*
 * Publishing the durable LSN to followers and acknowledging appenders
 * (Sources/Journal/Writer/DurabilityWaiter.swift publishDurableLocked and
 * DurablePublication.wake, Follow/FollowerHub.swift storeDurableLocked and
 * published, called by Writer/Completion.swift complete and
 * Follow/Journal+FollowingProcess.swift publishTail), model-checked by spin.
 *
 * Two completers advance the journal's durable LSN under the journal's lock
 * (`publishDurableLocked`: only upwards). Under that lock each first stores
 * the LSN in the follow file (journal.shm's durableLSN), then in the
 * journal's durable LSN, and takes the appenders the LSN satisfies. Then,
 * without that lock, it publishes the LSN to the hub (under the hub's lock
 * the hub keeps the highest LSN published, bumps the follow file's
 * sequence and wakes the parked followers it passes), and only then wakes
 * its appenders. The two publications may reach the hub in either order.
 * An appender is acknowledged when it finds the journal's durable LSN at
 * its record under the journal's lock, or when its completer wakes it.
 * An in-process follower checks the journal's durable LSN and parks under
 * the hub's lock; a follower in another process sleeps until the follow
 * file's LSN passes what it read (its futex protocol is follow.pml's; here
 * it is reduced to parking under the hub's lock on the follow file's LSN,
 * woken by the hub's publications).
 *
 * The journal closes once both completers have stored their LSN (the I/O
 * thread exits when no write is in flight), possibly before a completer's
 * publication reached the hub: `close` takes the final durable LSN as the
 * hub's, then marks the writer closed (journal.shm's closedIncarnation) and
 * wakes the sleepers; the publication that comes late changes nothing. The
 * follower in another process ends when it finds the close mark and has
 * read every record in the follow file (`untilWriterCloses`).
 *
 * Checked:
 *  - no appender is acknowledged before the follow file holds its LSN
 *    (assertion in Appender): a writer killed right after an
 *    acknowledgement leaves the record visible to followers in other
 *    processes;
 *  - no lost wake-up: spin's invalid-end-state check finds a follower or an
 *    appender parked after every completer is done (the only valid end is
 *    both followers having read every record and the appender
 *    acknowledged);
 *  - followers read only durable records, and one that ends with the
 *    writer's close has read every record (assertions).
 *
 * The follow file's LSN is stored under the journal's lock, so it only goes
 * up and holds the final durable LSN before `close` can run: the hub's
 * maximum and the close's taking of the final LSN only spare wake-ups (the
 * variants that broke them when the hub stored the follow file's LSN,
 * BUG_NO_MAX and BUG_CLOSE_UNPUBLISHED, are no defects now).
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_CHECK_UNLOCKED  an in-process follower checks the durable LSN
 *                       outside the hub's lock, then parks;
 *   BUG_STORE_UNLOCKED  the follow file's LSN is stored when the
 *                       publication reaches the hub, after the journal's
 *                       lock (an appender that finds the journal's durable
 *                       LSN at its record is acknowledged before it);
 *   BUG_WAKE_FIRST      as BUG_STORE_UNLOCKED, and the completer wakes its
 *                       appenders before it publishes to the hub;
 *   BUG_CLOSE_NO_WAKE   `close` marks the writer closed without waking the
 *                       followers asleep on the follow file.
 */

/* Partial-order reduction on (sound for these safety checks), states
   compressed: 3.2 million states instead of 9.5 million without it.
   check.sh safety-cflags: -DCOLLAPSE */

#define N 4
#define A 3   /* the appender's LSN */

byte durable = 0;     /* the journal's durable LSN (atomic) */
byte shm = 0;         /* the follow file's durableLSN */
byte published = 0;   /* the hub's highest published LSN */
bool parked[2];       /* follower i is parked in the hub */
byte waitsPast[2];    /* the LSN follower i waits past */
byte done = 0;        /* completers done */
byte stored = 0;      /* completers whose last LSN is stored */
bool closed = false;  /* the follow file's close mark */
byte readers = 0;     /* followers that read all N records */
byte waiting = 0;     /* the appender parked: 3, then the completer (1, 2) that took it; 0 once woken */
bool acked = false;   /* the appender was acknowledged */

/* The follow file's LSN is stored at the hub, after the journal's lock,
 * in the variants that do so. */
#ifndef BUG_STORE_UNLOCKED
#ifndef BUG_WAKE_FIRST
#define STORE_UNDER_LOCK
#endif
#endif

/* code: FollowerHub.published, under the hub's lock: a publication that
 * raises the hub's LSN bumps the follow file's sequence (waking every
 * follower asleep on it: one that finds nothing new sleeps again, which
 * the model folds into not waking it) and wakes the in-process followers
 * it passes; one overtaken by a higher publication does nothing. */
inline hubPublish(lsn) {
    atomic {
        if
        :: lsn > published ->
            published = lsn;
#ifndef STORE_UNDER_LOCK
            shm = lsn;
#endif
            if :: parked[0] && waitsPast[0] < published -> parked[0] = false :: else -> skip fi;
            if :: parked[1] && waitsPast[1] < shm -> parked[1] = false :: else -> skip fi
        :: else -> skip
        fi
    }
}

/* code: DurablePublication.wake's loop over the appenders */
inline wakeAppenders(me) {
    if :: waiting == me -> waiting = 0 :: else -> skip fi
}

/* A completer (`me`: 1 or 2) publishes `first`, then `second`. */
proctype Completer(byte me; byte first; byte second) {
    byte lsn = first;
    bool advanced;
    do
    :: lsn != 0 ->
        /* code: publishDurableLocked, journal's lock held */
        atomic {
            if
            :: lsn > durable ->
#ifdef STORE_UNDER_LOCK
                shm = lsn;  /* FollowerHub.storeDurableLocked */
#endif
                durable = lsn;
                advanced = true;
                /* the appender, if it waits for an LSN this one reaches */
                if :: waiting == 3 && A <= lsn -> waiting = me :: else -> skip fi
            :: else -> advanced = false
            fi
        };
        /* code: after lock.unlock(): DurablePublication.wake */
        if
        :: lsn == second -> stored++
        :: else -> skip
        fi;
#ifdef BUG_WAKE_FIRST
        wakeAppenders(me);
#endif
        if
        :: advanced -> hubPublish(lsn)
        :: else -> skip
        fi;
#ifndef BUG_WAKE_FIRST
        wakeAppenders(me);
#endif
        if
        :: lsn == first -> lsn = second
        :: else -> lsn = 0
        fi
    :: else -> break
    od;
    done++
}

/* The appender waits until its record, LSN A, is durable
 * (waitUntilDurableBlocking / waitUntilDurable): it checks under the
 * journal's lock and parks there. LSN A is reached by either completer
 * (3 by the first's second publication, 4 by the second's). */
proctype Appender() {
    atomic {
        if
        :: durable >= A -> skip
        :: else -> waiting = 3
        fi
    };
    (waiting == 0);
    /* acknowledged: the follow file already holds its LSN */
    assert(shm >= A);
    acked = true
}

/* code: Journal.close -> FollowerHub.close(durable:), once no write is in flight */
proctype Closer() {
    stored == 2;
    atomic {
        if
        :: durable > published -> published = durable
        :: else -> skip
        fi;
#ifndef STORE_UNDER_LOCK
        shm = published;
#endif
        closed = true;
        /* every parked in-process follower wakes (and finds the durable LSN) */
        parked[0] = false;
#ifndef BUG_CLOSE_NO_WAKE
        /* detachWriter wakes the sleepers on the follow file */
        parked[1] = false
#else
        skip
#endif
    }
}

/* In-process follower (0): waits on the journal's durable LSN. */
proctype InProcess() {
    byte mine = 0;
    do
    :: mine == N -> break
    :: mine < N ->
#ifndef BUG_CHECK_UNLOCKED
        /* code: FollowerHub.waitBlocking: check and park under the hub's lock */
        atomic {
            if
            :: durable > mine -> skip
            :: else -> waitsPast[0] = mine; parked[0] = true
            fi
        };
#else
        if
        :: durable > mine -> skip
        :: else -> atomic { waitsPast[0] = mine; parked[0] = true }
        fi;
#endif
        !parked[0];
        mine = durable
    od;
    readers++
}

/* Follower in another process (1): waits on the follow file's LSN, ends
 * with the writer's close. */
proctype OtherProcess() {
    byte mine = 0;
    bool ending;
    do
    :: true ->
        ending = closed;
        if
        :: ending && shm == mine ->
            assert(mine == N);
            break
        :: else -> skip
        fi;
        atomic {
            if
            :: shm > mine || closed -> skip
            :: else -> waitsPast[1] = mine; parked[1] = true
            fi
        };
        !parked[1];
        assert(shm <= durable);
        if
        :: shm > mine -> mine = shm
        :: else -> skip
        fi
    od;
    readers++
}

init {
    atomic {
        run Completer(1, 1, 3);
        run Completer(2, 2, 4);
        run Appender();
        run InProcess();
        run Closer();
        run OtherProcess()
    }
    (done == 2 && readers == 2 && acked);
    assert(durable == N && shm == N && published == N)
}
