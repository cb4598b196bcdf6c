/*
 * A follower's open beside a live writer (journal-format.md, section 11,
 * "A follower's open"), model-checked by spin.
 *
 * The log: records 1..6, two per segment, segments 1..3 in files (inodes)
 * 1..3. The writer writes each segment's header with its first record (the
 * header is torn while it is written), then the record, then makes it
 * durable and publishes `durable`. Once record 3 is durable, truncation
 * publishes `oldest` = 3, then releases segment 1: its file is renamed to a
 * spare (its name is gone), then recycled into segment 4, whose header is
 * written over the old one (torn, then a valid header naming 4) and whose
 * records then overwrite the old ones.
 *
 * The follower loads `oldest` (O1) and `durable` (D1), lists the names,
 * opens each listed file (gone if renamed since), reads its header, then
 * walks the chain from its start segment reading each segment's records as
 * they are at that moment, loads `oldest` again (O2), and judges: the log
 * must hold every LSN from O2 through D1; if not, it reads again when
 * `oldest` changed, else it reports corruption. Every step of the writer
 * and the truncation interleaves with every step of the follower.
 *
 * Code: Sources/Journal/Follow/Journal+FollowingOpen.swift
 * (recoverFollowing, missingPublished), Recovery+DamagedStart.swift
 * (followedLogStart), Recovery+Inventory.swift (a vanished file is
 * skipped), Recovery+Beyond.swift (no verdict past the end).
 *
 * Checked: the follower never reports corruption of this healthy log, and
 * the log it accepts holds every record from O2 through D1.
 *
 * Broken variants, each of which spin must reject (Tools/promela/check-bugs.sh):
 *   BUG_LOWEST_FILE_DECIDES  recovery's verdict for files at rest: the log
 *                            starts at the lowest file, and one whose header
 *                            is not active there is a damaged start;
 *   BUG_JUDGE_BEYOND         what lies past the chain's end is judged: a
 *                            later segment with records proves records
 *                            missing at the end;
 *   BUG_NO_RETRY             no second read when `oldest` changed meanwhile.
 */

#define BLANK 0
#define TORN 1
#define ACTIVE 2   /* a valid header naming the file's first name */
#define STALE 3    /* a valid header naming another index (recycled) */
#define ATTEMPTS 2

byte durable = 0;       /* the follow file's durableLSN */
byte oldest = 1;        /* the follow file's oldestLSN */
bool named[4];          /* inode k still has its first name k (1..3) */
byte hdr[4];            /* header of inode k */
byte cnt[4];            /* records written in inode k */
bool wiped = false;     /* inode 1's old records overwritten by segment 4's */
bool writerDone = false;
bool openerDone = false;

proctype Writer() {
    byte lsn = 1;
    byte s;
    do
    :: lsn <= 6 ->
        s = (lsn + 1) / 2;
        if
        :: lsn % 2 == 1 && s > 1 -> hdr[s] = TORN; hdr[s] = ACTIVE
        :: else -> skip
        fi;
        cnt[s]++;
        durable = lsn;
        lsn++
    :: else -> break
    od;
    writerDone = true
}

proctype Truncation() {
    durable >= 3;
    oldest = 3;
    named[1] = false;   /* renamed to a spare, then to segment 4 */
    hdr[1] = TORN;
    hdr[1] = STALE;
    wiped = true
}

/* The base LSN of segment k. */
#define BASE(k) (2 * (k) - 1)

proctype Opener() {
    byte o1, d1, o2;
    bool listed[4];
    byte st[4];       /* header as read: BLANK (or gone), TORN, ACTIVE, STALE */
    byte k, start, e, c;
    bool opened;
    byte attempt = 1;
again:
    o1 = oldest;
    d1 = durable;
    atomic { listed[1] = named[1]; listed[2] = named[2]; listed[3] = named[3] };
    k = 1;
    do
    :: k <= 3 ->
        /* open (a renamed file is gone), then, later, read the header */
        opened = listed[k] && named[k];
        if
        :: opened -> st[k] = hdr[k]
        :: else -> st[k] = BLANK
        fi;
        k++
    :: else -> break
    od;
#ifndef BUG_LOWEST_FILE_DECIDES
    /* the highest active segment whose base is at most O1, else the lowest */
    start = 0;
    k = 1;
    do
    :: k <= 3 && st[k] == ACTIVE && (start == 0 || BASE(k) <= o1) -> start = k; k++
    :: k <= 3 && !(st[k] == ACTIVE && (start == 0 || BASE(k) <= o1)) -> k++
    :: else -> break
    od;
#else
    if
    :: st[1] == TORN || st[1] == STALE -> assert(false)  /* a damaged start with acknowledged fragments */
    :: else -> skip
    fi;
    start = 0;
    k = 1;
    do
    :: k <= 3 && st[k] == ACTIVE && start == 0 -> start = k; k++
    :: k <= 3 && !(st[k] == ACTIVE && start == 0) -> k++
    :: else -> break
    od;
#endif
    e = 0;
    if
    :: start > 0 ->
        k = start;
        do
        :: true ->
            /* the records of segment k as they are now */
            if
            :: k == 1 && wiped -> c = 0
            :: else -> c = cnt[k]
            fi;
            e = BASE(k) - 1 + c;
            if
            :: c == 2 && k < 3 && st[k + 1] == ACTIVE -> k++
            :: else -> break
            fi
        od;
#ifndef BUG_JUDGE_BEYOND
        skip  /* past the end: no verdict */
#else
        /* a later segment with records proves the end's records acknowledged */
        if
        :: k < 3 && c < 2 && hdr[k + 1] == ACTIVE && cnt[k + 1] > 0 -> assert(false)
        :: else -> skip
        fi
#endif
    :: else -> skip
    fi;
    o2 = oldest;
    if
    :: e >= d1 && (start == 0 || BASE(start) <= o2) && (start > 0 || d1 == 0) ->
        skip  /* accepted: every record from O2 through D1 */
    :: else ->
#ifndef BUG_NO_RETRY
        if
        :: o2 != o1 && attempt < ATTEMPTS -> attempt++; goto again
        :: else -> skip
        fi;
#endif
        assert(false)  /* a corruption verdict on a healthy log */
    fi;
    openerDone = true
}

init {
    atomic {
        named[1] = true; named[2] = true; named[3] = true;
        hdr[1] = ACTIVE;
        run Writer();
        run Truncation();
        run Opener()
    }
}
