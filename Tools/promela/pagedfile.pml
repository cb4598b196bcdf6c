/*
 * pagedfile.pml: the concurrency protocol of the RAM-backed data file
 * (Sources/PagedFile), checked with spin.
 *
 * Each statement outside an `atomic` block, and each `atomic` block, is one
 * atomic step of the Swift code: one load, store, fetch-add, exchange or
 * compare-and-swap on an `Atomic`. The comments name the step of the code
 * (W1..W6, R1..R5, T1..T7 as in the comment at the top of PagedFile.swift)
 * and the function that performs it. Ghost variables (marked "ghost") only
 * record history for the assertions; they are updated inside the step they
 * describe.
 *
 * Abstractions, and why they are sound:
 *  - A page holds CPP cells; a cell stands for a byte range. A memcpy of one
 *    cell is one step; a copy of several cells would be several steps.
 *  - The free list is a set: taking a page (`tryRent`, one successful
 *    compare-and-swap on a tagged Treiber head) and giving one back (push) are
 *    one step each. The 32-bit version tag in the head word makes a stale
 *    compare-and-swap fail, so the stack is linearizable at that CAS.
 *  - Reader counts have one stripe per parity: `synchronize` waits for each
 *    stripe separately, and a reader touches a single stripe, so more stripes
 *    add states but no behaviours that matter here.
 *  - The epoch is a small counter; its parity selects the count.
 *  - `setLength` growing runs W1, W2, W5, W6 of a write without data: the
 *    writers cover those steps. The truncating process shrinks.
 *  - Memory is sequentially consistent except for the writer slots
 *    (WriterSlots.swift): a writer's slot stores are plain stores that the
 *    CPU may hold in its store buffer while it loads the gate and goes on
 *    (store-to-load reordering, the one reordering x86 does and the one the
 *    protocol must survive). Each writer has a one-entry FIFO store buffer
 *    `sb` in front of its slot `ann`; the StoreBuffers process drains it at
 *    any time, and a second store waits for the first to drain (a bounded
 *    FIFO: every value still reaches memory, in order). Every other access
 *    of the code is a seq_cst read-modify-write, or an acquire load or
 *    release store paired as the argument needs, and stays one SC step.
 *  - membarrier(PRIVATE_EXPEDITED) (T2b) is one step that drains every
 *    store buffer: each thread's full barrier falls somewhere inside the
 *    call, and the resizer does nothing between T2a and T2c, so putting all
 *    of them at one instant inside the call loses no behaviour: a writer's
 *    slot store after that instant precedes a gate load that sees T2a.
 *  - In S1 writer 0 enters through its thread's slot (the fast path) and
 *    writer 1 through the gate's count (the fallback: no membarrier, no free
 *    slot, or a nested write), so the truncation waits for both kinds; in
 *    S2 the writer uses its slot while a close runs.
 *
 * Scenarios (init picks one nondeterministically, so one run checks all and
 * their state spaces add up instead of multiplying). The pool holds CAP
 * pages and starts nearly full, so reservations fail and pages travel
 * between files:
 *  S1 extend, read, truncate: two writers extend file a into the same new
 *     page (racing for the reservation, the hole and the length), a reader
 *     reads a's last cell, a truncation cuts a inside its first page.
 *  S2 close, read, reuse: file b is closed while a reader of b copies from
 *     it; a writer extends a, which fits only with b's pages, and a reader of
 *     a runs.
 *  S3 holes in a full pool: every page is reserved; two writers race for
 *     one hole of a while a third fills a hole of b, so a writer can find the
 *     pool empty while a loser still holds its page.
 *
 * Broken variants (check-bugs.sh asserts that spin rejects each):
 *  BUG_NO_MEMBARRIER  the resizer scans the slots without membarrier: a
 *                     writer's announcement still in its store buffer is
 *                     missed, and the page it copies into is freed (T2b).
 *  BUG_LOAD_FIRST     the writer loads the gate before it announces (what
 *                     the compiler barrier W1b forbids): membarrier cannot
 *                     help, the resizer misses it.
 */
#ifndef BUG_NO_MEMBARRIER
#define BUG_NO_MEMBARRIER 0
#endif
#ifndef BUG_LOAD_FIRST
#define BUG_LOAD_FIRST 0
#endif

#define CAP    3          /* pages in the pool */
#define SLOTS  2          /* page-table slots per file */
#define CPP    2          /* cells per page */
#define NF     2          /* files */
#define NONE   255
#define NW     3          /* writers */
#define EMPTY  255        /* an empty store buffer */

#define PAGES(n) (((n) + CPP - 1) / CPP)

/* Writer tags: cell values. 0 is zero; a file's tags identify its data. */
#define TAG_A0 1          /* initial data of file a */
#define TAG_A1 2
#define TAG_A2 3
#define TAG_B  4
#define IS_TAG_OF(f, v) ((f) == 0 && ((v) == TAG_A0 || (v) == TAG_A1 || (v) == TAG_A2) || (f) == 1 && (v) == TAG_B)

#define R_NONE    0
#define R_OK      1
#define R_NOSPACE 2
#define R_CLOSED  3

/* ---- pool (PagePool.swift) ---- */
byte committed;            /* capacity counter: rented + reserved pages */
byte rented;               /* rentedPages counter (statistics) */
bool isFree[CAP];          /* on a free list, or never touched */
byte cell[CAP * CPP];      /* page contents */
byte owner[CAP];           /* ghost: file whose table holds or held the page */
bool limbo[CAP];           /* ghost: unpublished, waiting for the grace period */
byte pubCount;             /* ghost: pages published in some table */
byte limboCount;           /* ghost */

/* ---- files (PagedFile.swift, PageTable.swift, Reclamation.swift) ---- */
byte slot[NF * SLOTS];     /* 0 = hole, else page + 1 */
byte length[NF];           /* cells */
byte extent[NF];           /* cells; capacity held for PAGES(extent) pages */
byte allocated[NF];
byte gateCount[NF];        /* gate word: count (fallback writers) ... */
bool gateResizing[NF];     /* ... resizing bit ... */
bool gateClosed[NF];       /* ... closed bit (one atomic word in the code) */
bool closedFlag[NF];       /* closedSlot */
bool resizeLock[NF];
bool reclaimLock[NF];
byte epoch[NF];
byte rcount[NF * 2];       /* reader count per parity */

/* ---- writer slots (WriterSlots.swift), one per writer thread ---- */
byte ann[NW];              /* the slot in memory: 0, or file + 1 */
byte sb[NW];               /* the writer's store buffer for it: EMPTY or a value */
bool viaSlot[NW];          /* the writer enters through its slot, not the count */

/* ---- ghosts for the assertions ---- */
byte lenTag[NF];           /* tag of the writer whose W5 set the length, 0 if a truncation did */
byte truncs[NF];           /* truncations that stored a length */
byte wFile[3]; byte wPos[3]; byte wTag[3];
byte result[3];            /* writers' outcomes */
byte minLenSince[3];       /* smallest length stored by a truncation after the writer finished */
byte finished;
byte workers;              /* processes the scenario runs */
byte scenario;

/* Monitor: checked in every reachable state (it can only step when broken). */
active proctype Monitor() {
end: atomic {
        !(committed <= CAP && pubCount + limboCount <= committed && rented <= CAP) ->
        assert(false)
     }
}

/* The CPUs drain store buffers on their own, at any time, in order. */
active proctype StoreBuffers() {
end: do
     :: atomic { sb[0] != EMPTY -> ann[0] = sb[0]; sb[0] = EMPTY }
     :: atomic { sb[1] != EMPTY -> ann[1] = sb[1]; sb[1] = EMPTY }
     :: atomic { sb[2] != EMPTY -> ann[2] = sb[2]; sb[2] = EMPTY }
     od
}

/* A plain store to writer w's slot: into its store buffer, behind the
 * previous one. */
inline slotStore(w, v) {
    atomic { sb[w] == EMPTY -> sb[w] = v }
}

/* WriterSlots.leave: the release store of 0 (W6, or backing out). It waits
 * behind the announcement in the store buffer; that it may then linger there
 * too only makes a resizer wait longer, so the model writes it through. */
inline slotClear(w) {
    atomic { sb[w] == EMPTY -> ann[w] = 0 }
}

/* membarrier (T2b): every thread executes a full barrier. */
inline drainAll() {
    atomic {
        i = 0;
        do
        :: i < NW -> if :: sb[i] != EMPTY -> ann[i] = sb[i]; sb[i] = EMPTY :: else -> skip fi; i++
        :: i == NW -> break
        od
    }
}

/* Backing out after W1: leave the slot (release store) or the count. */
inline leaveWriter(w, f) {
    if
    :: viaSlot[w] -> slotClear(w)
    :: else -> gateCount[f]--                           /* fetch-sub */
    fi
}

/* tryRent (PagePool.tryRent): take the first free page, assert it is zero. */
inline tryRent(fresh, got) {
    atomic {
        got = false;
        fresh = 0;
        do
        :: fresh < CAP && isFree[fresh] ->
           assert(owner[fresh] == NONE && !limbo[fresh]);
           assert(cell[fresh * CPP] == 0 && cell[fresh * CPP + 1] == 0);  /* I5: rented pages are zero */
           isFree[fresh] = false; rented++; got = true; break
        :: fresh < CAP && !isFree[fresh] -> fresh++
        :: fresh == CAP -> break
        od
    }
}

proctype Writer(byte w) {
    byte f = wFile[w], pos = wPos[w], tag = wTag[w];
    byte idx = pos / CPP;
    bool sawClosed, sawResizing, ok, got, won;
    byte cur, need, c, fresh, pg;

    /* W1 enterWriter */
    do
    :: viaSlot[w] ->                                    /* enterThroughSlot */
#if BUG_LOAD_FIRST
       atomic { sawClosed = gateClosed[f]; sawResizing = gateResizing[f] };
       slotStore(w, f + 1);
#else
       slotStore(w, f + 1);                             /* W1a announce: plain store */
                                                        /* W1b compiler barrier: no step */
       atomic { sawClosed = gateClosed[f]; sawResizing = gateResizing[f] };   /* W1c load gate */
#endif
       if
       :: !sawClosed && !sawResizing -> break
       :: else ->
          slotClear(w);                                 /* leave: back out */
          if
          :: sawClosed -> result[w] = R_CLOSED; goto fin
          :: else -> !resizeLock[f]                     /* resizeLock.withLock {}: wait for the resizer */
          fi
       fi
    :: !viaSlot[w] ->                                   /* enterThroughCount: fetch-add */
       atomic { sawClosed = gateClosed[f]; sawResizing = gateResizing[f]; gateCount[f]++ };
       if
       :: !sawClosed && !sawResizing -> break
       :: else ->
          gateCount[f]--;                               /* fetch-sub: back out */
          if
          :: sawClosed -> result[w] = R_CLOSED; goto fin
          :: else -> !resizeLock[f]
          fi
       fi
    od;

    /* W2 reserveExtent */
    cur = extent[f];                                    /* load extent */
    do
    :: pos + 1 <= cur -> break
    :: else ->
       need = PAGES(pos + 1) - PAGES(cur);
       ok = true;
       if
       :: need > 0 ->
          c = committed;                                /* PagePool.reserve: load */
          do
          :: c + need > CAP ->
             if
             :: extent[f] != cur -> cur = extent[f]; ok = false; break   /* covered meanwhile? reload */
             :: else -> leaveWriter(w, f); result[w] = R_NOSPACE; goto fin   /* outOfSpace: nothing changed */
             fi
          :: else ->
             atomic {                                   /* reserve: CAS on committed */
                if
                :: committed == c -> committed = c + need; ok = true
                :: else -> c = committed; ok = false
                fi
             };
             if :: ok -> break :: else -> skip fi
          od
       :: else -> skip
       fi;
       if
       :: ok ->
          atomic {                                      /* CAS extent: cur -> end */
             if
             :: extent[f] == cur -> extent[f] = pos + 1; ok = true
             :: else -> cur = extent[f]; ok = false
             fi
          };
          if
          :: ok -> break
          :: else -> if :: need > 0 -> committed = committed - need :: else -> skip fi   /* unreserve */
          fi
       :: else -> skip
       fi
    od;

    /* W3 pageForWriting / publishFreshPage */
    pg = slot[f * SLOTS + idx];                         /* load slot */
    do
    :: pg != 0 -> break
    :: else ->
       tryRent(fresh, got);
       if
       :: got ->
          atomic {                                      /* publish: CAS slot 0 -> page */
             if
             :: slot[f * SLOTS + idx] == 0 ->
                slot[f * SLOTS + idx] = fresh + 1; owner[fresh] = f; pubCount++; won = true
             :: else -> won = false
             fi;
             pg = slot[f * SLOTS + idx]
          };
          if
          :: won -> allocated[f]++                      /* fetch-add allocatedPages */
          :: else -> atomic { isFree[fresh] = true; rented-- }   /* returnUnused: push */
          fi
       :: else -> pg = slot[f * SLOTS + idx]            /* no free page: re-read the slot, retry */
       fi
    od;

    /* W4 copyIn: memcpy of the cell */
    atomic {
        assert(!isFree[pg - 1] && owner[pg - 1] == f && !limbo[pg - 1]);   /* no use after free */
        cell[(pg - 1) * CPP + pos % CPP] = tag
    };

    /* W5 publishLength: CAS loop, after the data */
    cur = length[f];
    do
    :: pos + 1 <= cur -> break
    :: else ->
       atomic {
          if
          :: length[f] == cur -> length[f] = pos + 1; lenTag[f] = tag; ok = true
          :: else -> cur = length[f]; ok = false
          fi
       };
       if :: ok -> break :: else -> skip fi
    od;

    /* W6 exitWriter: slotClear, or fetch-sub (the ghosts go with the step) */
    if
    :: viaSlot[w] -> atomic { sb[w] == EMPTY -> ann[w] = 0; result[w] = R_OK; minLenSince[w] = NONE }
    :: else -> atomic { gateCount[f]--; result[w] = R_OK; minLenSince[w] = NONE }
    fi;
fin:
    finished++
}

proctype Reader(byte f) {
    byte e, ln, pg, v, sawTag, snap;

    /* R1 epochs.enter */
    do
    :: e = epoch[f];                                    /* load epoch */
       rcount[f * 2 + e % 2]++;                         /* fetch-add count */
       if
       :: epoch[f] == e -> break                        /* reload: unchanged */
       :: else -> rcount[f * 2 + e % 2]--               /* undo, retry */
       fi
    od;
    /* R2 closed check */
    if
    :: closedFlag[f] -> goto leave
    :: else -> skip
    fi;
    /* R3 load length */
    atomic { ln = length[f]; sawTag = lenTag[f]; snap = truncs[f] };
    if
    :: ln == 0 -> goto leave
    :: else -> skip
    fi;
    /* R4 load the slot of the last cell, copy it */
    pg = slot[f * SLOTS + (ln - 1) / CPP];
    if
    :: pg != 0 ->
       atomic {
          assert(!isFree[pg - 1] && owner[pg - 1] == f);            /* no use after free, isolation */
          v = cell[(pg - 1) * CPP + (ln - 1) % CPP];
          assert(v == 0 || IS_TAG_OF(f, v));                        /* never another file's data */
          assert(!(sawTag != 0 && snap == truncs[f]) || v != 0)     /* I7: length after data */
       }
    :: else ->
       assert(!(sawTag != 0 && snap == truncs[f]))                  /* I7: the page was published */
    fi;
leave:
    /* R5 epochs.exit */
    rcount[f * 2 + e % 2]--;
    finished++
}

/* T2b-T2d (PagedFile.excludeWriters, WriterSlots.waitForWriters), after
 * T2a set the resizing bit. */
inline excludeWriters(f) {
#if !BUG_NO_MEMBARRIER
    drainAll();                                         /* T2b membarrier */
#endif
    i = 0;
    do                                                  /* T2c: wait while a slot holds f (acquire) */
    :: i < NW -> ann[i] != f + 1; i++
    :: i == NW -> break
    od;
    gateCount[f] == 0                                   /* T2d: wait for the count */
}

/* T3 and T4 (PagedFile.cut), with writers excluded. */
inline cut(f, newLen, oldExt) {
    atomic {                                            /* store length */
        length[f] = newLen; lenTag[f] = 0; truncs[f]++;
        c = 0;
        do
        :: c < 3 -> if :: result[c] == R_OK && wFile[c] == f && newLen < minLenSince[c] -> minLenSince[c] = newLen :: else -> skip fi; c++
        :: c == 3 -> break
        od
    };
    if                                                  /* zero the tail of the new last page */
    :: newLen % CPP != 0 ->
       pg = slot[f * SLOTS + newLen / CPP];
       if
       :: pg != 0 && oldExt > newLen -> cell[(pg - 1) * CPP + newLen % CPP] = 0   /* memset (CPP = 2: one cell) */
       :: else -> skip
       fi
    :: else -> skip
    fi;
    idx = PAGES(newLen);
    holes = 0;
    nret = 0;
    do                                                  /* exchange each slot with 0 */
    :: idx < PAGES(oldExt) ->
       atomic {
          pg = slot[f * SLOTS + idx]; slot[f * SLOTS + idx] = 0;
          if
          :: pg != 0 -> limbo[pg - 1] = true; pubCount--; limboCount++; ret[nret] = pg - 1; nret++
          :: else -> holes++
          fi
       };
       idx++
    :: idx >= PAGES(oldExt) -> break
    od;
    if :: holes > 0 -> committed = committed - holes :: else -> skip fi;   /* unreserve holes */
    extent[f] = newLen;                                 /* store extent */
    allocated[f] = allocated[f] - nret                  /* fetch-sub allocatedPages */
}

/* T6 and T7 (PagedFile.reclaim). */
inline reclaim(f) {
    if
    :: nret > 0 ->
       atomic { !reclaimLock[f] -> reclaimLock[f] = true };
       e = epoch[f]; epoch[f]++;                        /* synchronize: fetch-add epoch */
       rcount[f * 2 + e % 2] == 0;                      /* wait for the old parity to drain */
       idx = 0;
       do                                               /* PagePool.release: zero the chain ... */
       :: idx < nret -> cell[ret[idx] * CPP] = 0; cell[ret[idx] * CPP + 1] = 0; idx++
       :: idx == nret -> break
       od;
       atomic {                                         /* ... push it (one CAS) ... */
          idx = 0;
          do
          :: idx < nret -> isFree[ret[idx]] = true; owner[ret[idx]] = NONE; limbo[ret[idx]] = false; limboCount--; idx++
          :: idx == nret -> break
          od
       };
       rented = rented - nret;                          /* ... fetch-sub rented ... */
       committed = committed - nret;                    /* ... and give the capacity back */
       reclaimLock[f] = false
    :: else -> skip
    fi
}

proctype Truncate(byte f; byte newLen) {
    byte oldLen, oldExt, pg, idx, holes, nret, e, c, i;
    byte ret[SLOTS];
    /* setLength: a shrink when the length seen is larger */
    if
    :: length[f] <= newLen -> goto fin
    :: else -> skip
    fi;
    atomic { !resizeLock[f] -> resizeLock[f] = true };              /* T1 */
    if
    :: closedFlag[f] -> resizeLock[f] = false; goto fin
    :: else -> skip
    fi;
    gateResizing[f] = true;                                         /* T2a fetch-or */
    excludeWriters(f);                                              /* T2b-T2d */
    oldLen = length[f];
    oldExt = extent[f];
    assert(oldLen == oldExt);
    if
    :: newLen < oldLen ->
       cut(f, newLen, oldExt)                            /* T3, T4 */
    :: else -> nret = 0
    fi;
    gateResizing[f] = false;                                        /* T5 fetch-and */
    resizeLock[f] = false;
    reclaim(f);                                          /* T6, T7 */
fin:
    finished++
}

/* close (PagedFile.close). */
proctype Close(byte f) {
    byte oldExt, pg, idx, holes, nret, e, c, i;
    byte ret[SLOTS];
    atomic { !resizeLock[f] -> resizeLock[f] = true };             /* T1 */
    if
    :: closedFlag[f] -> resizeLock[f] = false; goto fin
    :: else -> skip
    fi;
    closedFlag[f] = true;                                           /* store closedSlot */
    atomic { gateClosed[f] = true; gateResizing[f] = true };        /* T2a fetch-or on the gate */
    excludeWriters(f);                                              /* T2b-T2d */
    oldExt = extent[f];
    cut(f, 0, oldExt);                                              /* T3, T4 */
    resizeLock[f] = false;                                          /* T5 */
    reclaim(f);                                                     /* T6, T7 */
fin:
    finished++
}

/* Initial state: page p published in slot i of file f, cells = (v0, v1). */
inline place(p, f, i, v0, v1) {
    isFree[p] = false; owner[p] = f; rented++; pubCount++;
    cell[p * CPP] = v0; cell[p * CPP + 1] = v1;
    slot[f * SLOTS + i] = p + 1; allocated[f]++
}

inline setWriter(w, f, pos, tag, fast) {
    wFile[w] = f; wPos[w] = pos; wTag[w] = tag; viaSlot[w] = fast
}

init {
    byte p, f, i, pg, total, free, pages;
    atomic {
        p = 0;
        do
        :: p < CAP -> isFree[p] = true; owner[p] = NONE; p++
        :: p == CAP -> break
        od;
        sb[0] = EMPTY; sb[1] = EMPTY; sb[2] = EMPTY;
        if
        :: scenario = 1;
           place(0, 0, 0, TAG_A0, 0); length[0] = CPP; extent[0] = CPP;
           place(2, 1, 0, TAG_B, TAG_B); length[1] = CPP; extent[1] = CPP;
           committed = 2;
           setWriter(0, 0, 2, TAG_A1, true);   /* extends a into page 1 */
           setWriter(1, 0, 3, TAG_A2, false);  /* the same page, further */
           workers = 4;
           run Writer(0); run Writer(1); run Reader(0); run Truncate(0, 1)
        :: scenario = 2;
           place(0, 0, 0, TAG_A0, TAG_A0); length[0] = CPP; extent[0] = CPP;
           place(1, 1, 0, TAG_B, TAG_B); place(2, 1, 1, TAG_B, TAG_B);
           length[1] = 2 * CPP; extent[1] = 2 * CPP;
           committed = 3;
           setWriter(0, 0, 2, TAG_A1, true);   /* needs a page that only b's close frees */
           workers = 4;
           run Close(1); run Reader(1); run Writer(0); run Reader(0)
        :: scenario = 3;
           place(0, 0, 0, TAG_A0, TAG_A0); length[0] = 2 * CPP; extent[0] = 2 * CPP;
           length[1] = CPP; extent[1] = CPP;
           committed = 3;                   /* a's hole and b's hole are reserved */
           /* No resizer here: the way in does not matter, the count is
            * the smaller state space. */
           setWriter(0, 0, 2, TAG_A1, false);
           setWriter(1, 0, 3, TAG_A2, false);
           setWriter(2, 1, 0, TAG_B, false);
           workers = 3;
           run Writer(0); run Writer(1); run Writer(2)
        fi
    };
    finished == workers;

    /* ---- final checks, at quiescence ---- */
    total = 0;
    f = 0;
    do
    :: f < NF ->
       assert(length[f] == extent[f]);                  /* I4: extent == length at quiescence */
       assert(gateCount[f] == 0 && rcount[f * 2] == 0 && rcount[f * 2 + 1] == 0);
       assert(ann[0] != f + 1 && ann[1] != f + 1 && ann[2] != f + 1);   /* no writer left inside */
       pages = 0;
       i = 0;
       do
       :: i < SLOTS ->
          pg = slot[f * SLOTS + i];
          if
          :: pg != 0 ->
             pages++;
             assert(i < PAGES(extent[f]));              /* no page past the extent */
             assert(owner[pg - 1] == f && !isFree[pg - 1] && !limbo[pg - 1]);
             /* I4: zeros past end of file; I5: only this file's data */
             assert(i * CPP + 0 < length[f] || cell[(pg - 1) * CPP] == 0);
             assert(i * CPP + 1 < length[f] || cell[(pg - 1) * CPP + 1] == 0);
             assert(cell[(pg - 1) * CPP] == 0 || IS_TAG_OF(f, cell[(pg - 1) * CPP]));
             assert(cell[(pg - 1) * CPP + 1] == 0 || IS_TAG_OF(f, cell[(pg - 1) * CPP + 1]))
          :: else -> skip
          fi;
          i++
       :: i == SLOTS -> break
       od;
       assert(pages == allocated[f]);
       total = total + PAGES(extent[f]);
       f++
    :: f == NF -> break
    od;
    /* I1: exact capacity accounting; I2: no leak */
    assert(committed == total && limboCount == 0);
    free = 0;
    i = 0;
    do
    :: i < CAP -> if :: isFree[i] -> free++; assert(owner[i] == NONE) :: else -> skip fi; i++
    :: i == CAP -> break
    od;
    assert(free + rented == CAP && rented == allocated[0] + allocated[1] && pubCount == rented);
    /* I6: no lost write: a finished write survives unless a later truncation cut it */
    i = 0;
    do
    :: i < 3 ->
       if
       :: result[i] == R_OK && !closedFlag[wFile[i]] && minLenSince[i] > wPos[i] ->
          pg = slot[wFile[i] * SLOTS + wPos[i] / CPP];
          assert(pg != 0 && cell[(pg - 1) * CPP + wPos[i] % CPP] != 0)
       :: else -> skip
       fi;
       i++
    :: i == 3 -> break
    od;
    /* a closed file holds nothing */
    assert(!closedFlag[1] || length[1] == 0 && allocated[1] == 0);
    assert(scenario != 2 || closedFlag[1]);
    finished++                                          /* for the progress property */
}

/* Progress: under weak fairness every process finishes, including the final
 * checks (no deadlock, no livelock in the retry loops). */
ltl progress { <> (scenario != 0 && finished == workers + 1) }
