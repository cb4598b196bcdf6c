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
journal that opens, the outcome, the end (segment, offset), the gaps
(segment, offset, last LSN before, first LSN after) and the segment files
set aside for their size (salvage); for one that does not,
the error's segment and offset as the message names them. Each case names
the section or issue point it covers. A second implementation can check
itself against the same manifests.
"""
import concurrent.futures
import json
import os
import subprocess
import sys

from cases import MODES, cases

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
                                   ("gaps", got_gaps, want["gaps"]),
                                   ("set_aside", rec.get("set_aside", []), want.get("set_aside", []))]:
            if got_v != want_v:
                problems.append("%s %s, want %s" % (key, got_v, want_v))
    elif "error" in want:
        e = want["error"]
        fragment = "segment %s at offset %d" % (e["segment"], e["offset"])
        if fragment not in r.stderr:
            problems.append("error %r does not name %r" % (r.stderr.strip(), fragment))
    return problems


def check(out, cli):
    """Checks every case in every mode. The reader's runs only read, so they
    run a few at a time (subprocesses: the threads only wait); the report
    keeps the cases' order."""
    jobs = []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name, "manifest.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            manifest = json.load(f)
        for mode in MODES:
            jobs.append((name, mode, manifest))
    def run(job):
        name, mode, manifest = job
        return check_mode(cli, os.path.join(out, name, "journal"), mode, manifest["modes"][mode])
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * max(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(run, jobs))
    failures = 0
    for (name, mode, manifest), problems in zip(jobs, results):
        if problems:
            failures += 1
            print("FAIL %s [%s] (%s): %s" % (name, mode, manifest["rule"], "; ".join(problems)))
    print("%d of %d case-modes conform" % (len(jobs) - failures, len(jobs)))
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
