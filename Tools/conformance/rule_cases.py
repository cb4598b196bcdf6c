"""Cases for each sub-rule of section 5.3 (validity of a record) and for
the metadata geometry of section 3.

A rule case breaks one rule in record 2 and keeps every checksum valid
(the header is sealed after it is changed), so that only a reader that
checks that rule tells the record apart. Unless said otherwise, record 3
follows in its own batch, written when record 2 was durable
(committedLSN 2): outside salvage the damage is corruption at the end of
record 1, and salvage resumes at the first record past it that decodes
whole under rules 1 and 3-6 (section 7.6).
"""
import struct

from writer import FIRST, FRAG, FULL, HEADER, LAST, MIDDLE, Journal, crc32c, flip, payload, seg_name

END1 = (seg_name(1), HEADER + FRAG + 100)


def _set(h, fmt, offset, value):
    struct.pack_into(fmt, h, offset, value)


def _three(tamper_first=None, tamper_last=None, size=100):
    """Records 1 (100 bytes), 2 (`size` bytes, its FULL or FIRST fragment
    changed by `tamper_first`, its LAST by `tamper_last`) and 3, a batch
    each. Returns the journal."""
    j = Journal()
    j.batch([payload(1, 100)])

    def tamper(lsn, ftype, h):
        if lsn == 2 and ftype in (FULL, FIRST) and tamper_first:
            tamper_first(h)
        if lsn == 2 and ftype == LAST and tamper_last:
            tamper_last(h)
    j.tamper = tamper
    j.batch([payload(2, size)])
    j.tamper = None
    j.batch([payload(3, 100)])
    return j


def _corrupt_then(j, records, gap_first_after, opened, failed):
    """Outside salvage: corruption at the end of record 1. Salvage: the
    `records` (LSNs, or (LSN, payload) pairs), a gap from record 1 to
    `gap_first_after`, the end where the journal's last record ends."""
    pairs = [r if isinstance(r, tuple) else (r, payload(r, 100)) for r in records]
    salvage = opened(pairs, "salvaged", (seg_name(1), j.offset), [(END1[0], END1[1], 1, gap_first_after)], exit_code=65)
    return {"tolerate-torn-tail": failed(65, *END1), "absolute": failed(65, *END1), "salvage": salvage}


def validity_cases(opened, failed):
    """Yields (name, rule, journal, expected per mode) for section 5.3."""
    rule1 = [
        ("header-crc", None),
        ("committed-not-below-lsn", lambda h: _set(h, "<Q", 24, 2)),
        ("lsn-above-2-62", lambda h: _set(h, "<Q", 16, (1 << 62) + 2)),
        ("type-middle-starts", lambda h: _set(h, "<B", 32, MIDDLE)),
        ("type-invalid", lambda h: _set(h, "<B", 32, 5)),
        ("flags", lambda h: _set(h, "<B", 33, 1)),
        ("reserved", lambda h: _set(h, "<H", 34, 1)),
    ]
    for name, tamper in rule1:
        j = _three(tamper_first=tamper)
        if tamper is None:
            flip(j, 1, j.fragments[2][0][1])
        yield "rule1-" + name, "§5.3 rule 1", j, _corrupt_then(j, [1, 3], 3, opened, failed)

    # Rule 2: the LSN skips one; salvage resumes at the skipped-to record.
    j = Journal()
    j.batch([payload(1, 100)])
    j.last_lsn += 1
    j.batch([payload(3, 100)], committed=1)
    j.batch([payload(4, 100)])
    yield "rule2-lsn-skips", "§5.3 rule 2", j, _corrupt_then(j, [1, 3, 4], 3, opened, failed)

    # Rule 2: an epoch below the chain's; salvage needs the epoch too.
    j = Journal()
    j.new_segment()
    for epoch, lsn in ((2, 1), (1, 2), (2, 3)):
        j.epoch = epoch
        j.batch([payload(lsn, 100)])
    yield "rule2-epoch-lower", "§5.3 rule 2, §7.6", j, _corrupt_then(j, [1, 3], 3, opened, failed)

    # Rule 2: a broken previousCRC; record 2 decodes whole on its own
    # (rules 1, 3-6), so salvage resumes at it: a gap with no missing LSN.
    j = _three(tamper_first=lambda h: _set(h, "<I", 8, struct.unpack_from("<I", h, 8)[0] ^ 1))
    yield "rule2-previous-crc", "§5.3 rule 2, §7.6", j, _corrupt_then(j, [1, 2, 3], 2, opened, failed)

    yield from _rule3_cases(opened, failed)

    # Rule 4: payloadCRC wrong under a valid header.
    j = _three(tamper_first=lambda h: _set(h, "<I", 4, struct.unpack_from("<I", h, 4)[0] ^ 1))
    yield "rule4-payload-crc", "§5.3 rule 4", j, _corrupt_then(j, [1, 3], 3, opened, failed)

    yield from _rule5_cases(opened, failed)

    # Rule 6: a record one byte over recordBytesMax (8000); one of exactly
    # 8000 is valid.
    j = _three(size=8001)
    yield "rule6-over-max", "§5.3 rule 6", j, _corrupt_then(j, [1, 3], 3, opened, failed)
    j = Journal()
    j.batch([payload(1, 8000)])
    yield "rule6-at-max", "§5.3 rule 6", j, {m: opened([(1, payload(1, 8000))], "clean", (seg_name(1), j.offset))
                                             for m in ("tolerate-torn-tail", "absolute", "salvage")}


def _rule3_cases(opened, failed):
    """Rule 3: a length over the page's room, and a FIRST that does not fill
    its page; each payloadCRC covers the bytes the length claims, so only
    rule 3 rejects the record."""
    # A FULL claiming one byte more than its page holds, at the log's end
    # (the bytes it claims past its page are the segment's zeros): nothing
    # proves it acknowledged, so it is a torn tail.
    j = Journal()
    j.batch([payload(1, 100)])
    room = 2 * 4096 - (4096 + FRAG)

    def over(lsn, ftype, h):
        _set(h, "<I", 12, room + 1)
        _set(h, "<I", 4, crc32c(payload(2, 100) + bytes(room + 1 - 100)))
    j.tamper = over
    j.batch([payload(2, 100)])
    j.tamper = None
    torn = opened([(1, payload(1, 100))], "torn-tail-cut", END1)
    yield "rule3-length-over-room", "§5.3 rule 3, §7.5", j, {
        "tolerate-torn-tail": torn, "absolute": failed(65, *END1), "salvage": torn}

    # A FIRST 8 bytes short of its page: its LAST is still found at the next
    # page, so a reader that skips rule 3 returns a record 8 bytes short.
    def short(h):
        _set(h, "<I", 12, room - 8)
        _set(h, "<I", 4, crc32c(payload(2, 6000)[:room - 8]))
    j = _three(tamper_first=short, size=6000)
    yield "rule3-first-short", "§5.3 rule 3", j, _corrupt_then(j, [1, 3], 3, opened, failed)


def _rule5_cases(opened, failed):
    """Rule 5: record 2 is a FIRST and a LAST; the LAST breaks one check."""
    def xor(offset, fmt="<I"):
        return lambda h: _set(h, fmt, offset, struct.unpack_from(fmt, h, offset)[0] ^ 1)
    broken = [
        ("type-middle", lambda h: _set(h, "<B", 32, MIDDLE)),
        ("lsn", lambda h: _set(h, "<Q", 16, 3)),
        ("epoch", lambda h: _set(h, "<I", 36, 2)),
        ("previous-crc", xor(8)),
        ("flags", lambda h: _set(h, "<B", 33, 1)),
        ("committed-not-below-lsn", lambda h: _set(h, "<Q", 24, 2)),
    ]
    for name, tamper in broken:
        j = _three(tamper_last=tamper, size=6000)
        yield "rule5-" + name, "§5.3 rule 5", j, _corrupt_then(j, [1, 3], 3, opened, failed)
    # A LAST turned FULL is a record of its own: the FIRST before it fails
    # rule 5, and salvage resumes at the FULL (LSN 2, the LAST's bytes).
    j = _three(tamper_last=lambda h: _set(h, "<B", 32, FULL), size=6000)
    tail = payload(2, 6000)[2 * 4096 - (4096 + FRAG):]
    yield "rule5-last-is-full", "§5.3 rule 5, §7.6", j, _corrupt_then(j, [1, (2, tail), 3], 2, opened, failed)


def geometry_cases(failed, opened):
    """Section 3: metadata whose checksum holds but whose geometry no
    writer makes is "not a journal" (exit 66); a recordBytesMax that just
    fits a segment opens."""
    # From 128 in segments of 32768 with pages of 4096, a record holds at
    # most (4096 - 128 - 40) + 7 * (4096 - 40) = 32320 bytes.
    bad = [
        ("meta-block-not-power-of-two", dict(block_bytes=3072)),
        ("meta-block-below-512", dict(block_bytes=256)),
        ("meta-page-below-4096", dict(page_bytes=2048, block_bytes=512)),
        ("meta-page-below-block", dict(page_bytes=4096, block_bytes=8192)),
        ("meta-segment-zero", dict(segment_bytes=0)),
        ("meta-segment-not-pages", dict(segment_bytes=32768 + 512)),
        ("meta-record-max-over-segment", dict(record_bytes_max=32321)),
    ]
    for name, geometry in bad:
        j = Journal()
        j.meta = j.metadata(**geometry)
        yield name, "§3 (geometry), issue point 5", j, {m: failed(66) for m in ("tolerate-torn-tail", "absolute", "salvage")}
    j = Journal(record_bytes_max=32320)
    j.batch([payload(1, 32320)])
    yield "meta-record-max-fits", "§3, §5.1, §9", j, {
        m: opened([(1, payload(1, 32320))], "clean", (seg_name(1), 32768)) for m in ("tolerate-torn-tail", "absolute", "salvage")}
