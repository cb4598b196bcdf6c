/*
 * The follower hub's wake-ups, sent after the journal's lock is released
 * (Sources/Journal/Follow/FollowerHub.swift published, called by
 * Writer/Completion.swift complete and Follow/Journal+FollowingProcess.swift
 * publishTail once they let the journal's lock go), model-checked by spin.
 *
 * Two completers advance the journal's durable LSN under the journal's lock
 * (`publishDurableLocked`: only upwards), then, without that lock, publish
 * the LSN they stored to the hub: under the hub's lock the hub keeps the
 * highest LSN published (and stores it in the follow file), and wakes the
 * parked followers it passes. The two publications may reach the hub in
 * either order. An in-process follower checks the journal's durable LSN
 * and parks under the hub's lock; a follower in another process sleeps
 * until the follow file's LSN passes what it read (its futex protocol is
 * follow.pml's; here it is reduced to parking under the hub's lock on the
 * published LSN).
 *
 * The journal closes once both completers have stored their LSN (the I/O
 * thread exits when no write is in flight), possibly before a completer's
 * publication reached the hub: `close` publishes the final durable LSN
 * under the hub's lock, then marks the writer closed (journal.shm's
 * closedIncarnation), and the publication that comes late changes nothing.
 * The follower in another process ends when it finds the close mark and
 * has read every published record (`untilWriterCloses`).
 *
 * Checked:
 *  - no lost wake-up: spin's invalid-end-state check finds a follower parked
 *    after every completer is done (the only valid end is both followers
 *    having read every record);
 *  - followers read only durable records, and one that ends with the
 *    writer's close has read every record (assertions).
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_NO_MAX          the hub stores the LSN it is handed even when a
 *                       later publication already stored a higher one (the
 *                       follow file's LSN goes back);
 *   BUG_CHECK_UNLOCKED  an in-process follower checks the durable LSN
 *                       outside the hub's lock, then parks;
 *   BUG_CLOSE_UNPUBLISHED  `close` marks the writer closed without first
 *                       publishing the final durable LSN.
 */

#define N 4

byte durable = 0;     /* the journal's durable LSN (atomic) */
byte published = 0;   /* the hub's highest published LSN = the follow file's */
bool parked[2];       /* follower i is parked in the hub */
byte waitsPast[2];    /* the LSN follower i waits past */
byte done = 0;        /* completers done */
byte stored = 0;      /* completers whose last LSN is stored */
bool closed = false;  /* the follow file's close mark */
byte readers = 0;     /* followers that read all N records */

/* code: FollowerHub.published, under the hub's lock */
inline hubPublish(lsn) {
    atomic {
#ifndef BUG_NO_MAX
        if
        :: lsn > published -> published = lsn
        :: else -> skip
        fi;
#else
        published = lsn;
#endif
        if :: parked[0] && waitsPast[0] < published -> parked[0] = false :: else -> skip fi;
        if :: parked[1] && waitsPast[1] < published -> parked[1] = false :: else -> skip fi
    }
}

/* A completer publishes `first`, then `second`. */
proctype Completer(byte first; byte second) {
    byte lsn = first;
    bool advanced;
    do
    :: lsn != 0 ->
        /* code: publishDurableLocked, journal's lock held */
        atomic {
            if
            :: lsn > durable -> durable = lsn; advanced = true
            :: else -> advanced = false
            fi
        };
        /* code: after lock.unlock(): followers.published(lsn), before the
         * appenders the publication satisfies are woken (DurablePublication.wake;
         * appenders are not modelled: whom the completer wakes first changes
         * neither property checked here) */
        if
        :: lsn == second -> stored++
        :: else -> skip
        fi;
        if
        :: advanced -> hubPublish(lsn)
        :: else -> skip
        fi;
        if
        :: lsn == first -> lsn = second
        :: else -> lsn = 0
        fi
    :: else -> break
    od;
    done++
}

/* code: Journal.close -> FollowerHub.close(durable:), once no write is in flight */
proctype Closer() {
    stored == 2;
    atomic {
#ifndef BUG_CLOSE_UNPUBLISHED
        hubPublish(durable);
#endif
        closed = true;
        /* detachWriter wakes the sleepers */
        parked[1] = false
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
        :: ending && published == mine ->
            assert(mine == N);
            break
        :: else -> skip
        fi;
        atomic {
            if
            :: published > mine || closed -> skip
            :: else -> waitsPast[1] = mine; parked[1] = true
            fi
        };
        !parked[1];
        assert(published <= durable);
        if
        :: published > mine -> mine = published
        :: else -> skip
        fi
    od;
    readers++
}

init {
    atomic {
        run Completer(1, 3);
        run Completer(2, 4);
        run InProcess();
        run Closer();
        run OtherProcess()
    }
    (done == 2 && readers == 2);
    assert(durable == N && published == N)
}
