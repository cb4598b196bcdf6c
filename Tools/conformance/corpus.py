#!/usr/bin/env python3
"""The conformance corpus of journal-format.md.

Builds crafted journals from the rules of the document alone (this file
shares no code with the implementation), each with a manifest of what a
conforming reader must report in every recovery mode, and checks a reader
against them through its command line.

    corpus.py generate OUT            # OUT/<case>/journal/ and OUT/<case>/manifest.json
    corpus.py check OUT CLI           # runs `CLI replay --json` and `CLI inspect --json`

A manifest holds, per mode (tolerate-torn-tail, absolute, salvage): the
exit code; the records (LSN and payload, base64) a replay prints; and for a
journal that opens, the outcome, the end (segment, offset) and the gaps
(segment, offset, last LSN before, first LSN after); for one that does not,
the error's segment and offset as the message names them. Each case names
the section or issue point it covers. A second implementation can check
itself against the same manifests.
"""
import base64
import json
import os
import struct
import subprocess
import sys

# --- section 1: CRC32C ------------------------------------------------------

_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc_update(crc, data):
    """Continues a finished checksum `crc` over `data` (crc 0: a fresh one)."""
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc32c(data):
    return crc_update(0, data)


assert crc32c(b"123456789") == 0xE3069283

# --- sections 3-6: the writer's rules ---------------------------------------

M64 = (1 << 64) - 1
HEADER = 128
FRAG = 40
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def salt(journal_id, index, epoch):
    x = journal_id ^ ((index * 0x9E3779B97F4A7C15) & M64) ^ ((epoch * 0xC2B2AE3D27D4EB4F) & M64)
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def round_up(v, m):
    return (v + m - 1) // m * m


class Journal:
    """A journal directory being written by the rules, in memory."""

    def __init__(self, segment_bytes=32768, page_bytes=4096, block_bytes=4096, record_bytes_max=8000,
                 count_max=0, journal_id=0x1234_5678_9ABC_DEF0):
        self.g = dict(segment_bytes=segment_bytes, page_bytes=page_bytes, block_bytes=block_bytes,
                      record_bytes_max=record_bytes_max, count_max=count_max)
        self.journal_id = journal_id
        self.meta = self.metadata()
        self.segments = {}  # index -> bytearray
        self.extra = {}  # other files
        self.last_crc, self.last_lsn, self.epoch = 0, 0, 1
        self.index, self.offset = 0, 0
        self.fragments = {}  # lsn -> [(segment index, offset)] of its fragments

    def metadata(self, version=1, flags=0, count_max=None):
        g = self.g
        b = bytearray(4096)
        b[0:8] = b"SWJNLMTA"
        struct.pack_into("<IIQQIIII", b, 8, version, flags, self.journal_id, g["segment_bytes"],
                         g["count_max"] if count_max is None else count_max, g["record_bytes_max"],
                         g["block_bytes"], g["page_bytes"])
        struct.pack_into("<I", b, 124, crc32c(b[0:124]))
        return b

    def activate(self, index, base_lsn, epoch, previous_crc, flags=0):
        """A segment header (section 4); returns its crc."""
        seg = self.segments.setdefault(index, bytearray(self.g["segment_bytes"]))
        h = bytearray(HEADER)
        h[0:8] = b"SWJNLSEG"
        struct.pack_into("<IIQQQQIIIIQI", h, 8, 1, flags, self.journal_id, index, base_lsn,
                         salt(self.journal_id, index, epoch), epoch, self.g["block_bytes"], self.g["page_bytes"], 0,
                         1 << 20, previous_crc)
        struct.pack_into("<I", h, 124, crc32c(h[0:124]))
        seg[0:HEADER] = h
        return struct.unpack_from("<I", h, 124)[0]

    def new_segment(self):
        """Rolls over to the next index, activated by the current session."""
        self.index += 1
        self.last_crc = self.activate(self.index, self.last_lsn + 1, self.epoch, self.last_crc)
        self.seg_epoch = self.epoch
        self.offset = HEADER

    def place(self, p):
        """Section 5.1 steps 1-2."""
        p = round_up(p, 8)
        page_end = (p // self.g["page_bytes"] + 1) * self.g["page_bytes"]
        return page_end if page_end - p <= FRAG else p

    def fragment(self, seg, p, payload, lsn, committed, ftype, prev):
        seed = crc32c(struct.pack("<Q", salt(self.journal_id, self.index, self.seg_epoch)))
        h = bytearray(FRAG)
        struct.pack_into("<IIIQQBBHI", h, 4, crc32c(payload), prev, len(payload), lsn, committed, ftype, 0, 0, self.epoch)
        crc = crc_update(seed, bytes(h[4:]))
        struct.pack_into("<I", h, 0, crc)
        seg[p:p + FRAG] = h
        seg[p + FRAG:p + FRAG + len(payload)] = payload
        self.fragments.setdefault(lsn, []).append((self.index, p))
        return crc

    def batch(self, payloads, committed=None, committed_last=None):
        """One batch (section 6) from the next block: records `payloads`,
        with committedLSN `committed` (default: the last LSN before it)."""
        if self.index == 0:
            self.new_segment()
        committed = self.last_lsn if committed is None else committed
        seg = self.segments[self.index]
        p = round_up(self.offset, self.g["block_bytes"]) if self.offset > HEADER else HEADER
        lsns = []
        for payload in payloads:
            self.last_lsn += 1
            lsn = self.last_lsn
            rest = payload
            first = True
            while True:
                p = self.place(p)
                page_end = (p // self.g["page_bytes"] + 1) * self.g["page_bytes"]
                take = min(len(rest), page_end - p - FRAG)
                last = take == len(rest)
                ftype = FULL if first and last else FIRST if first else LAST if last else MIDDLE
                c = committed_last if (last and not first and committed_last is not None) else committed
                self.last_crc = self.fragment(seg, p, rest[:take], lsn, c, ftype, self.last_crc)
                p += FRAG + take
                rest = rest[take:]
                first = False
                if last:
                    break
            lsns.append(lsn)
        self.offset = p
        return lsns

    def write(self, directory):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "journal.meta"), "wb") as f:
            f.write(self.meta)
        for index, seg in self.segments.items():
            with open(os.path.join(directory, "%016x.seg" % index), "wb") as f:
                f.write(seg)
        for name, data in self.extra.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)


def seg_name(index):
    return "%016x.seg" % index


def payload(n, size):
    return bytes((n * 31 + i) % 251 for i in range(size))


def flip(j, index, offset):
    j.segments[index][offset] ^= 0xFF


# --- the cases --------------------------------------------------------------

MODES = ["tolerate-torn-tail", "absolute", "salvage"]


def opened(records, outcome, end, gaps=(), exit_code=0):
    return {"exit": exit_code, "records": [[lsn, base64.b64encode(p).decode()] for lsn, p in records],
            "outcome": outcome, "end": list(end), "gaps": [list(g) for g in gaps]}


def failed(exit_code, segment=None, offset=None):
    e = {"exit": exit_code}
    if segment is not None:
        e["error"] = {"segment": segment, "offset": offset}
    return e


def same(result):
    return {m: result for m in MODES}


def cases():
    """Yields (name, rule, journal, expected per mode)."""
    # §3: an empty journal, metadata only; §7: no segment, end ("", 0).
    j = Journal()
    yield "empty", "§3, §7 (end of an empty log)", j, same(opened([], "clean", ("", 0)))

    # §5-§6: three batches; the end is just past the last payload byte.
    j = Journal()
    recs = [(lsn, payload(lsn, 100)) for lsn in (1, 2, 3)]
    for lsn, p in recs:
        j.batch([p])
    yield "clean", "§5.1, §6, §7 (end)", j, same(opened(recs, "clean", (seg_name(1), 2 * 4096 + FRAG + 100)))

    # §5.1 fragmentation (FIRST, MIDDLE, LAST), several records per batch, rollover (§6).
    j = Journal()
    a, b, c, d = payload(1, 10), payload(2, 7000), payload(3, 3000), payload(4, 5)
    j.batch([a, b])
    j.batch([c])
    j.new_segment()
    j.batch([d])
    recs = [(1, a), (2, b), (3, c), (4, d)]
    yield "fragments-rollover", "§5.1, §5.3, §6 (next segment)", j, same(opened(recs, "clean", (seg_name(2), HEADER + FRAG + 5)))

    # §5.3 rule 5 / point 6: the fragments of one record carry different committedLSNs.
    j = Journal()
    j.batch([payload(1, 10)])
    j.batch([payload(2, 6000)], committed=1, committed_last=0)
    # FIRST at 4096 carries a page's room (4096 - 40); LAST at 8192 the rest.
    yield "committed-differs", "§5.3 rule 5, issue point 6", j, same(opened(
        [(1, payload(1, 10)), (2, payload(2, 6000))], "clean", (seg_name(1), 2 * 4096 + FRAG + 6000 - (4096 - FRAG))))

    # §6 / point 7: a record ending exactly on a block boundary; the next batch starts there.
    j = Journal()
    p1 = payload(1, 4096 - HEADER - FRAG)
    j.batch([p1])
    j.batch([payload(2, 20)])
    yield "block-boundary", "§6, issue point 7", j, same(opened(
        [(1, p1), (2, payload(2, 20))], "clean", (seg_name(1), 4096 + FRAG + 20)))

    # §7.5 torn tail: the last batch damaged, nothing after it.
    j = Journal()
    for lsn in (1, 2, 3):
        j.batch([payload(lsn, 100)])
    flip(j, 1, 2 * 4096 + FRAG + 50)
    end = (seg_name(1), 4096 + FRAG + 100)
    torn = opened([(1, payload(1, 100)), (2, payload(2, 100))], "torn-tail-cut", end)
    yield "torn-tail", "§7.5 (torn tail), §7.6", j, {
        "tolerate-torn-tail": torn, "absolute": failed(65, *end), "salvage": torn}

    # §7.5 corruption and §7.6 salvage: record 2 damaged, records 3-4 prove it durable.
    j = Journal()
    for lsn in (1, 2, 3, 4):
        j.batch([payload(lsn, 100)])
    flip(j, 1, 4096 + FRAG + 50)
    end = (seg_name(1), HEADER + FRAG + 100)
    yield "interior-corruption", "§7.5 (corruption), §7.6 (salvage resume)", j, {
        "tolerate-torn-tail": failed(65, *end), "absolute": failed(65, *end),
        "salvage": opened([(1, payload(1, 100)), (3, payload(3, 100)), (4, payload(4, 100))], "salvaged",
                          (seg_name(1), 3 * 4096 + FRAG + 100), [(seg_name(1), end[1], 1, 3)], exit_code=65)}

    # Point 1 (§7.4): only a LAST fragment proves record 4 acknowledged;
    # nothing past the end decodes whole: salvage ends the log and numbers on.
    j = Journal()
    for lsn in (1, 2, 3, 4):
        j.batch([payload(lsn, 100)])
    j.batch([payload(5, 6000)])
    flip(j, 1, 3 * 4096 + FRAG + 50)
    flip(j, 1, 4 * 4096 + 16)
    end = (seg_name(1), 2 * 4096 + FRAG + 100)
    yield "last-fragment-evidence", "§7.4, issue point 1", j, {
        "tolerate-torn-tail": failed(65, *end), "absolute": failed(65, *end),
        "salvage": opened([(lsn, payload(lsn, 100)) for lsn in (1, 2, 3)], "salvaged", end, [(end[0], end[1], 3, 6)], exit_code=65)}

    # §3 / point 5: metadata a reader must reject ("not a journal", exit 66), or a newer version (78).
    for name, kwargs in [("meta-version-0", dict(version=0)), ("meta-flags", dict(flags=1)), ("meta-count-max-1", dict(count_max=1))]:
        j = Journal()
        j.meta = j.metadata(**kwargs)
        yield name, "§3, issue point 5", j, same(failed(66))
    j = Journal()
    j.meta = j.metadata(version=2)
    yield "meta-newer", "§3, §10", j, same(failed(78))

    # §2 / point 4: a segment file of the wrong size, even past the end.
    j = Journal()
    j.batch([payload(1, 10)])
    j.extra[seg_name(2)] = bytes(4096)
    yield "wrong-size", "§2, issue point 4", j, same(failed(65, seg_name(2), 0))

    # §4 / point 3: a checksum-valid header with non-zero flags: invalid.
    j = Journal()
    j.index = 1
    j.last_crc = j.activate(1, 1, 1, 0, flags=1)
    j.seg_epoch, j.offset = 1, HEADER
    for lsn in (1, 2, 3):
        j.batch([payload(lsn, 100)])
    yield "invalid-header-flags", "§4 (invalid), issue point 3, §7.6 (damaged log start)", j, {
        "tolerate-torn-tail": failed(65, seg_name(1), 0), "absolute": failed(65, seg_name(1), 0),
        "salvage": opened([(lsn, payload(lsn, 100)) for lsn in (1, 2, 3)], "salvaged", (seg_name(1), 2 * 4096 + FRAG + 100),
                          [(seg_name(1), 0, 0, 1)], exit_code=65)}

    # §7.2 / point 8: the torn first write of a new journal (damaged header, nothing durable).
    j = Journal()
    j.batch([payload(1, 10)])
    flip(j, 1, 40)
    yield "torn-first-write", "§7.2, §7 (end), issue point 8", j, {
        "tolerate-torn-tail": opened([], "torn-tail-cut", (seg_name(1), HEADER)),
        "absolute": failed(65, seg_name(1), 0),
        "salvage": opened([], "torn-tail-cut", (seg_name(1), HEADER))}

    # §7.4 / point 2: a damaged header on the newest segment hides acknowledged records.
    j = Journal()
    for lsn in (1, 2):
        j.batch([payload(lsn, 100)])
    j.new_segment()
    for lsn in (3, 4):
        j.batch([payload(lsn, 100)])
    flip(j, 2, 40)
    end = (seg_name(1), 4096 + FRAG + 100)
    yield "damaged-header-newest", "§4, §7.4 (derived salt), §7.6, issue point 2", j, {
        "tolerate-torn-tail": failed(65, *end), "absolute": failed(65, *end),
        "salvage": opened([(lsn, payload(lsn, 100)) for lsn in (1, 2, 3, 4)], "salvaged", (seg_name(2), 4096 + FRAG + 100),
                          [(end[0], end[1], 2, 3)], exit_code=65)}

    # §4 blank and stale headers (an activation write that went astray) on
    # the newest segment hide nothing either.
    for name, state in [("blank-header-newest", "blank"), ("stale-header-newest", "stale")]:
        j = Journal()
        for lsn in (1, 2):
            j.batch([payload(lsn, 100)])
        j.new_segment()
        for lsn in (3, 4):
            j.batch([payload(lsn, 100)])
        if state == "blank":
            j.segments[2][0:HEADER] = bytes(HEADER)
        else:
            old = Journal()
            old.activate(7, 50, 1, 0)
            j.segments[2][0:HEADER] = old.segments[7][0:HEADER]
        end = (seg_name(1), 4096 + FRAG + 100)
        yield name, "§4 (%s), §7.4 (derived salt), §7.6, issue point 2" % state, j, {
            "tolerate-torn-tail": failed(65, *end), "absolute": failed(65, *end),
            "salvage": opened([(lsn, payload(lsn, 100)) for lsn in (1, 2, 3, 4)], "salvaged", (seg_name(2), 4096 + FRAG + 100),
                              [(end[0], end[1], 2, 3)], exit_code=65)}

    # Point 9: a garbage epoch (2^32 - 1) before the evidence in a damaged-header file.
    j = Journal()
    j.batch([payload(1, 100)])
    j.new_segment()
    for lsn in (2, 3):
        j.batch([payload(lsn, 100)])
    flip(j, 2, 40)
    j.segments[2][HEADER + 36:HEADER + 40] = b"\xff\xff\xff\xff"
    end = (seg_name(1), HEADER + FRAG + 100)
    yield "garbage-epoch", "§7.4 (derived-salt bound), issue point 9", j, {
        "tolerate-torn-tail": failed(65, *end), "absolute": failed(65, *end),
        "salvage": opened([(1, payload(1, 100)), (3, payload(3, 100))], "salvaged", (seg_name(2), 4096 + FRAG + 100),
                          [(end[0], end[1], 1, 3)], exit_code=65)}

    # §7.2 / point 2: a damaged log start proving acknowledged records;
    # salvage reads it with the derived salt.
    j = Journal()
    for lsn in (1, 2, 3):
        j.batch([payload(lsn, 100)])
    flip(j, 1, 40)
    yield "damaged-log-start", "§7.2, §7.6 (damaged log start), issue point 2", j, {
        "tolerate-torn-tail": failed(65, seg_name(1), 0), "absolute": failed(65, seg_name(1), 0),
        "salvage": opened([(lsn, payload(lsn, 100)) for lsn in (1, 2, 3)], "salvaged", (seg_name(1), 2 * 4096 + FRAG + 100),
                          [(seg_name(1), 0, 0, 1)], exit_code=65)}

    # §7.6 absolute: a clean end is followed by its batch's zero padding.
    j = Journal()
    j.batch([payload(1, 100)])
    j.segments[1][1000] = 1
    end = (seg_name(1), HEADER + FRAG + 100)
    clean = opened([(1, payload(1, 100))], "clean", end)
    yield "dirty-padding", "§7.6 (absolute consistency)", j, {
        "tolerate-torn-tail": clean, "absolute": failed(65, *end), "salvage": clean}

    # Point 10: a deleted newest segment reads as a clean end (what recovery cannot tell apart).
    j = Journal()
    j.batch([payload(1, 100)])
    j.new_segment()
    j.batch([payload(2, 100)])
    del j.segments[2]
    yield "deleted-newest-segment", "§7 (cannot tell apart), issue point 10", j, same(
        opened([(1, payload(1, 100))], "clean", (seg_name(1), HEADER + FRAG + 100)))

    # §4 stale: a recycled file past the end whose header names an old index.
    j = Journal()
    j.batch([payload(1, 100)])
    stale = Journal()
    stale.index = 7
    stale.activate(7, 50, 1, 0)
    j.extra[seg_name(2)] = bytes(stale.segments[7])
    yield "stale-past-end", "§4 (stale), §8", j, same(opened([(1, payload(1, 100))], "clean", (seg_name(1), HEADER + FRAG + 100)))


def generate(out):
    names = []
    for name, rule, journal, expected in cases():
        d = os.path.join(out, name)
        if os.path.isdir(d):
            subprocess.run(["rm", "-rf", d], check=True)
        journal.write(os.path.join(d, "journal"))
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump({"case": name, "rule": rule, "modes": expected}, f, indent=1, sort_keys=True)
        names.append(name)
    print("generated %d cases in %s" % (len(names), out))


def check_mode(cli, journal, mode, want):
    """Problems found running the reader over one case in one mode."""
    base = [cli, "--journal", journal, "--no-direct", "--recovery", mode]
    problems = []
    r = subprocess.run([base[0], "replay", "--json"] + base[1:], capture_output=True, text=True)
    if r.returncode != want["exit"]:
        problems.append("replay exit %d, want %d (%s)" % (r.returncode, want["exit"], r.stderr.strip()))
    if "records" in want:
        got = [[o["lsn"], o["payload_base64"]] for o in map(json.loads, r.stdout.splitlines())]
        if got != want["records"]:
            problems.append("records %s, want %s" % ([g[0] for g in got], [w[0] for w in want["records"]]))
        i = subprocess.run([base[0], "inspect", "--json"] + base[1:], capture_output=True, text=True)
        try:
            rec = json.loads(i.stdout)["recovery"]
        except ValueError:
            return problems + ["inspect printed no JSON (exit %d, %s)" % (i.returncode, i.stderr.strip())]
        got_gaps = [[g["segment"], g["offset"], g["last_lsn_before"], g["first_lsn_after"]] for g in rec["gaps"]]
        for key, got_v, want_v in [("outcome", rec["outcome"], want["outcome"]),
                                   ("end", [rec["end_segment"], rec["end_offset"]], want["end"]),
                                   ("gaps", got_gaps, want["gaps"])]:
            if got_v != want_v:
                problems.append("%s %s, want %s" % (key, got_v, want_v))
    elif "error" in want:
        e = want["error"]
        fragment = "segment %s at offset %d" % (e["segment"], e["offset"])
        if fragment not in r.stderr:
            problems.append("error %r does not name %r" % (r.stderr.strip(), fragment))
    return problems


def check(out, cli):
    failures = 0
    count = 0
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name, "manifest.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            manifest = json.load(f)
        for mode in MODES:
            count += 1
            problems = check_mode(cli, os.path.join(out, name, "journal"), mode, manifest["modes"][mode])
            if problems:
                failures += 1
                print("FAIL %s [%s] (%s): %s" % (name, mode, manifest["rule"], "; ".join(problems)))
    print("%d of %d case-modes conform" % (count - failures, count))
    return failures == 0


def main(argv):
    if len(argv) == 3 and argv[1] == "generate":
        generate(argv[2])
    elif len(argv) == 4 and argv[1] == "check":
        sys.exit(0 if check(argv[2], argv[3]) else 1)
    else:
        print(__doc__)
        sys.exit(64)


if __name__ == "__main__":
    main(sys.argv)
