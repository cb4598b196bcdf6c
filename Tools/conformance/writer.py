"""The writer's rules of journal-format.md (sections 1 and 3-6), in memory.

Shares no code with the implementation: a journal is built here from the
document alone, then damaged by the cases (cases.py) where a rule wants it.
"""
import os
import struct

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
        # Called as tamper(lsn, type, header) on each fragment header (a
        # bytearray of 40, checksum not yet set) before it is sealed: how a
        # case breaks one rule of section 5.3 and keeps every checksum.
        self.tamper = None

    def metadata(self, version=1, flags=0, count_max=None, **geometry):
        """The metadata file (section 3); `geometry` overrides fields of
        `self.g` (segment_bytes, page_bytes, block_bytes, record_bytes_max)."""
        g = dict(self.g, **geometry)
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
        if self.tamper is not None:
            self.tamper(lsn, ftype, h)
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
