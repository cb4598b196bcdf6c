"""The cases of the conformance corpus: each a journal built by the rules
(writer.py), possibly damaged, with what a conforming reader reports in
every recovery mode."""
import base64

from rule_cases import geometry_cases, validity_cases
from writer import FRAG, HEADER, Journal, flip, payload, seg_name

# --- the cases --------------------------------------------------------------

MODES = ["tolerate-torn-tail", "absolute", "salvage"]


def opened(records, outcome, end, gaps=(), exit_code=0, set_aside=()):
    return {"exit": exit_code, "records": [[lsn, base64.b64encode(p).decode()] for lsn, p in records],
            "outcome": outcome, "end": list(end), "gaps": [list(g) for g in gaps], "set_aside": list(set_aside)}


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

    # §2 / point 4: a segment file of the wrong size, even past the end:
    # refused, except that salvage sets it aside and reads on.
    j = Journal()
    j.batch([payload(1, 10)])
    j.extra[seg_name(2)] = bytes(4096)
    yield "wrong-size", "§2, §7.1, issue point 4", j, wrong_size(
        seg_name(2), opened([(1, payload(1, 10))], "salvaged", (seg_name(1), HEADER + FRAG + 10), exit_code=65,
                            set_aside=[seg_name(2)]))

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
    yield from wrong_size_cases()
    yield from validity_cases(opened, failed)
    yield from geometry_cases(failed, opened)


def wrong_size(name, salvage):
    """Refused naming the file outside salvage; `salvage` in salvage mode."""
    return {"tolerate-torn-tail": failed(65, name, 0), "absolute": failed(65, name, 0), "salvage": salvage}


def wrong_size_cases():
    """§2 / point 4: salvage goes on past a segment file of the wrong size
    as if no file had its name."""
    # In the log: the segment after it proves record 3 durable; salvage
    # resumes there, past the LSNs the short file held.
    j = Journal()
    for lsn in (1, 2):
        j.batch([payload(lsn, 100)])
    j.new_segment()
    j.batch([payload(3, 100)])
    j.new_segment()
    for lsn in (4, 5):
        j.batch([payload(lsn, 100)])
    j.extra[seg_name(2)] = bytes(j.segments.pop(2)[:8192])
    end = (seg_name(1), 4096 + FRAG + 100)
    yield "wrong-size-in-log", "§2, §7.1, §7.6, issue point 4", j, wrong_size(seg_name(2), opened(
        [(lsn, payload(lsn, 100)) for lsn in (1, 2, 4, 5)], "salvaged", (seg_name(3), 4096 + FRAG + 100),
        [(end[0], end[1], 2, 4)], exit_code=65, set_aside=[seg_name(2)]))

    # The newest segment, too long: its records are not read.
    j = Journal()
    j.batch([payload(1, 100)])
    j.new_segment()
    j.batch([payload(2, 100)])
    j.extra[seg_name(2)] = bytes(j.segments.pop(2)) + bytes(4096)
    yield "wrong-size-newest", "§2, §7.1, issue point 4", j, wrong_size(seg_name(2), opened(
        [(1, payload(1, 100))], "salvaged", (seg_name(1), HEADER + FRAG + 100), exit_code=65, set_aside=[seg_name(2)]))

    # The oldest file, empty: the log starts at the lowest active segment.
    j = Journal()
    j.batch([payload(1, 100)])
    j.new_segment()
    for lsn in (2, 3):
        j.batch([payload(lsn, 100)])
    j.segments.pop(1)
    j.extra[seg_name(1)] = b""
    yield "wrong-size-oldest-empty", "§2, §7.1, §7.2, issue point 4", j, wrong_size(seg_name(1), opened(
        [(lsn, payload(lsn, 100)) for lsn in (2, 3)], "salvaged", (seg_name(2), 4096 + FRAG + 100), exit_code=65,
        set_aside=[seg_name(1)]))
