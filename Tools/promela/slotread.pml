/*
 * A read-only reader of a page store beside a running writer
 * (Docs/page-store.md, "Readers beside a writer"), model-checked by spin.
 *
 * The writer commits transactions (LSNs 1, 2, ...; all durable here) and
 * checkpoints: it recreates the slot that does not hold the snapshot in use
 * zero-filled (its header invalid from that moment), writes the pages,
 * writes the header (sequence, LSN) last, then truncates the journal before
 * the new snapshot's LSN + 1 (the `.newestSnapshot` retention: the most the
 * reader can lose). The worst case for the reader is modelled: a rewrite
 * shows through a handle the reader holds (as if in place), so the reader
 * may see any interleaving of old and new pages.
 *
 * The reader chooses the valid header with the highest sequence, reads the
 * header, the pages, and the header again through the same handle; if both
 * reads agree it has the snapshot, else it tries again. Then it applies the
 * journal's records after the snapshot's LSN, each LSN in turn, and tries
 * again from the snapshots when the record it needs was released.
 *
 * Code: Sources/PageStore/Formats/Snapshot+StableRead.swift (loadStable),
 * Sources/PageStore/Reading/PageStoreReader+Building.swift (buildOnce,
 * catchUp: the LSN check on each record).
 *
 * Checked (assertions in Reader):
 *  - a loaded snapshot's pages all belong to the checkpoint whose header
 *    the reader accepted (never a mix of two checkpoints);
 *  - the records applied are exactly the LSNs after the snapshot's, each
 *    once, in order: the reader's state is a prefix of the commits.
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_NO_RECHECK      the reader does not read the header again after
 *                       the pages;
 *   BUG_HEADER_FIRST    the writer writes the header before the pages;
 *   BUG_SAME_SEQUENCE   checkpoints do not raise the sequence (a rewrite
 *                       that completes between the reader's two header
 *                       reads goes unseen);
 *   BUG_SKIP_RELEASED   the reader applies records from the journal's
 *                       first LSN when the one it needs was released.
 */

#define C 3          /* checkpoints the writer writes */
#define K 2          /* commits before each checkpoint */
#define TRIES 6      /* the reader's tries */

byte seq[2];         /* header: sequence, 0 = invalid (zero-filled) */
byte slsn[2];        /* header: the snapshot's LSN */
byte gid[2];         /* ghost: the checkpoint (1, 2, ...) whose header the slot holds */
byte pg0[2];         /* page 0 of each slot: the checkpoint it was written by */
byte pg1[2];         /* page 1 */
byte last = 0;       /* the last committed (durable) LSN */
byte oldest = 1;     /* the journal's first retained LSN */
bool writerDone = false;

active proctype Writer() {
    byte c = 0;
    byte s;
    byte k;
    byte at;
    byte next = 1;   /* the next checkpoint's sequence */
    byte inUse = 1;  /* the slot of the snapshot in use: write slot 0 first */
    do
    :: c < C ->
        k = 0;
        do
        :: k < K -> last++; k++
        :: else -> break
        od;
        s = 1 - inUse;
        at = last;
        seq[s] = 0;
#ifdef BUG_HEADER_FIRST
        atomic { seq[s] = next; slsn[s] = at; gid[s] = c + 1 };
#endif
        pg0[s] = c + 1;
        pg1[s] = c + 1;
#ifndef BUG_HEADER_FIRST
        atomic { seq[s] = next; slsn[s] = at; gid[s] = c + 1 };
#endif
        inUse = s;
        oldest = at + 1;
#ifndef BUG_SAME_SEQUENCE
        next++;
#endif
        c++
    :: else -> break
    od;
    writerDone = true
}

active proctype Reader() {
    byte tries = 0;
    byte s;
    byte h1;
    byte h2;
    byte l1;
    byte g1;
    byte r0;
    byte r1;
    byte v;        /* the LSN the reader's copy holds */
    byte x;        /* the next record's LSN */

try:
    tries++;
    if
    :: tries > TRIES -> goto done
    :: else -> skip
    fi;
    /* choose the valid header with the highest sequence */
    if
    :: seq[0] == 0 && seq[1] == 0 -> s = 2
    :: seq[0] != 0 && seq[0] >= seq[1] -> s = 0
    :: seq[1] != 0 && seq[1] > seq[0] -> s = 1
    :: else -> goto try   /* the headers moved between the reads */
    fi;
    if
    :: s == 2 ->
        /* no snapshot: the journal must start at 1 */
        v = 0;
        if
        :: oldest > 1 -> goto try
        :: else -> skip
        fi
    :: else ->
        atomic { h1 = seq[s]; l1 = slsn[s]; g1 = gid[s] };
        if
        :: h1 == 0 -> goto try
        :: else -> skip
        fi;
        r0 = pg0[s];
        r1 = pg1[s];
#ifndef BUG_NO_RECHECK
        h2 = seq[s];
#else
        h2 = h1;
#endif
        if
        :: h1 != h2 -> goto try
        :: else -> skip
        fi;
        assert(r0 == g1 && r1 == g1);   /* the pages of the header's checkpoint */
        v = l1
    fi;
    /* apply the records after v up to the durable LSN */
    x = v + 1;
    do
    :: x <= last ->
        if
        :: x < oldest ->
#ifndef BUG_SKIP_RELEASED
            goto try
#else
            x = oldest
#endif
        :: else -> skip
        fi;
        assert(x == v + 1);   /* each LSN once, in order */
        v = x;
        x++
    :: else -> break
    od;
done:
    skip
}
