/*
 * Reader positions that hold truncation back (journal-format.md, section
 * 12), model-checked by spin: a named position is created (and advanced)
 * by a process other than the writer while the writer truncates.
 *
 * A position is a file holding the LSN of the next record its reader
 * needs. The writer appends records and truncates: it publishes a floor
 * (the LSN it was asked to release records below) in the follow file,
 * reads the position files one by one, cuts at the lowest position within
 * the bound (a position keeping more than B records is overtaken), then
 * publishes the new oldest LSN and lowers the floor to it, and releases
 * the records below. A creator elsewhere picks an LSN at or above the
 * oldest it saw, writes its file, then loads the floor and the oldest LSN:
 * above its LSN, it removes the file and fails. Its reader then reads and
 * advances the position (a file replaced with a higher LSN).
 *
 * A position has one consumer at a time: before it reads or advances a
 * position, a consumer takes the lock on position-NAME.lock without
 * waiting (in use: it gives up), then reads the position file again, and
 * the kernel drops the lock when the consumer's process ends, however it
 * ends (journal-format.md, section 12, "One consumer"). Two consumers of
 * the existing position take turns here: the first holds it from the
 * start and may die at any step, letting the lock go; the second then
 * claims the position and goes on from what its file holds. The creator's
 * position has one consumer, the creator itself, which holds the lock
 * from before it writes the file.
 *
 * A truncation that positions held back runs again at each segment
 * rollover with the same LSN (Retention/Retention+Pending.swift): one more
 * of the writer's truncations, whose L the model already chooses freely.
 *
 * Code: Sources/Journal/Retention/Retention.swift (createPosition),
 * Segments/Truncation.swift (truncate), Retention/Retention+Cut.swift
 * (retentionCutLocked), Follow/SharedFollowState.swift (retentionFloor),
 * Retention/ReaderPosition.swift (claim).
 *
 * Checked:
 *  - no record at or above a held position that the writer did not
 *    overtake for the bound is ever released (assertions at the release
 *    and at every read of a reader);
 *  - a position never goes backwards, across a change of consumer too.
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_NO_FLOOR            the writer reads the position files without
 *                           publishing its floor first;
 *   BUG_CHECK_BEFORE_WRITE  the creator checks the floor and the oldest LSN
 *                           before it writes its file;
 *   BUG_NO_CLAIM            consumers read and advance the position without
 *                           its lock (two of them may then move it back);
 *   BUG_NO_REREAD           a consumer that takes the lock goes on from the
 *                           LSN it read before, not the file's.
 */

/* Partial-order reduction on, states compressed (two consumers of one
   position multiply the interleavings):
   check.sh safety-cflags: -DCOLLAPSE */

#define N 3      /* records the writer appends */
#define NP 2     /* positions: 0 is created during the run, 1 exists at the start */
#define B 2      /* a position within the bound keeps at most B records */
#define T 2      /* truncations */

byte top = 0;        /* records appended and durable */
byte firstKept = 1;  /* the lowest LSN not released */
byte oldest = 1;     /* the oldest LSN, as published */
byte floor = 1;      /* the retention floor, as published */
byte pos[NP];        /* position files: 0 none, else the next LSN needed */
bool live[NP];       /* ghost: position i was created and is held */
bool overtaken[NP];  /* ghost: a truncation went past position i for the bound */
byte holder = 0;     /* the consumer holding position 1's lock, 0 for none */

proctype Writer() {
  byte t = 0;
  byte L;
  byte cut;
  byte i;
  byte p;
  do
  :: top < N -> top++
  :: t < T && top > 0 ->
     t++;
     L = firstKept + 1;
     do
     :: L < top + 1 -> L++
     :: break
     od;
#ifndef BUG_NO_FLOOR
     floor = L;
#endif
     cut = L;
     i = 0;
     do
     :: i < NP ->
        p = pos[i];
        if
        :: p != 0 && p >= firstKept && p < cut ->
           if
           :: top + 1 - p <= B -> cut = p
           :: else -> overtaken[i] = true
           fi
        :: else -> skip
        fi;
        i++
     :: else -> break
     od;
     oldest = cut;
     floor = cut;
     /* Release the records below the cut. */
     i = 0;
     do
     :: i < NP ->
        assert(!live[i] || overtaken[i] || pos[i] >= cut);
        i++
     :: else -> break
     od;
     firstKept = cut
  :: else -> break
  od
}

/* Reads and advances position i while it is held. */
inline readAndAdvance(i) {
  do
  :: pos[i] < top + 1 ->
     /* Its next record is still in the log, or it was overtaken. */
     assert(overtaken[i] || firstKept <= pos[i]);
     p = pos[i] + 1;
     assert(p > pos[i]);
     pos[i] = p
  :: break
  od
}

proctype Creator() {
  byte P;
  byte f;
  byte o;
  byte p;
  P = oldest;
  do
  :: P < top + 1 -> P++
  :: break
  od;
#ifndef BUG_CHECK_BEFORE_WRITE
  pos[0] = P;
  f = floor;
  o = oldest;
  if
  :: f > P || o > P -> pos[0] = 0; goto failed
  :: else -> skip
  fi;
#else
  f = floor;
  o = oldest;
  if
  :: f > P || o > P -> goto failed
  :: else -> skip
  fi;
  pos[0] = P;
#endif
  live[0] = true;
  readAndAdvance(0);
failed:
  skip
}

/*
 * A consumer of position 1 (id 1 or 2): claims the position, reads its
 * file, then reads and advances it, each advance a replacement of the file
 * with its next LSN. It may die at any step: its process ends and the
 * kernel lets the lock go. Consumer 1 holds the lock when the run starts;
 * consumer 2 claims it whenever it is free.
 */
proctype Consumer(byte id) {
  byte v;
#ifdef BUG_NO_REREAD
  v = pos[1];   /* read before the claim, never again */
#endif
#ifndef BUG_NO_CLAIM
  /* A claim that finds the position in use gives up, which leaves
     nothing to check: the model's claim waits instead, as a consumer
     that tries again until it gets the position. */
  atomic { (holder == 0 || holder == id) -> holder = id }
#endif
#ifndef BUG_NO_REREAD
  v = pos[1];
#endif
  do
  :: v < top + 1 ->
     /* Its next record is still in the log, or it was overtaken. */
     assert(overtaken[1] || firstKept <= v);
     /* The file is replaced with the next LSN: a position never goes
        backwards. */
     d_step { v++; assert(v > pos[1]); pos[1] = v }
  :: break
  od;
  /* Done with the position, or dead: the lock goes either way (and its
     local state with it, which keeps the state space small). */
  atomic {
    v = 0;
    if
    :: holder == id -> holder = 0
    :: else -> skip
    fi
  }
}

init {
  pos[1] = 1;
  live[1] = true;
  holder = 1;
  atomic {
    run Writer();
    run Creator();
    run Consumer(1);
    run Consumer(2)
  }
}
