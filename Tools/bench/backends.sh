#!/usr/bin/env bash
# The two I/O backends side by side: `journalctl-swift bench append` with
# --io-backend io-uring and --io-backend threads, alternately (io-uring,
# threads, io-uring, threads, ...), on the disk and on tmpfs, so that both
# meet the disk and the machine's other load in the same minutes.
#
# Each run is one `bench append --json` invocation of --rounds rounds (fio
# runs beside it in every round, as always); the table gives, per cell and
# file system, the median over runs of each backend's median commits/s (or
# MB/s), their ratio threads/io-uring, and each backend's median ratio to
# fio at QD1 in the same rounds (a ratio to a peer measured minutes apart is
# worth less than one to a peer measured in the same round).
#
# Usage: backends.sh [--runs N] [--rounds N] [--seconds S] [--binary PATH]
#                    [--dirs "DIR ..."] [--cells "CELL ..."] [--jsonl FILE]
#                    [--json] [--quick]
# --jsonl keeps every run's `bench append --json` lines, tagged with
# "io_backend", in FILE. --json prints those lines on stdout instead of the
# table (how `bench all` runs it: its report draws the same table). --quick
# passes --quick to `bench append` (one round of one second per cell): a
# smoke test, not a measurement.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
binary="$root/.build/release/journalctl-swift"
runs=3
rounds=3
seconds=2
dirs="$root/data/bench-backends /dev/shm/bench-backends"
cells="append-128B-1 append-128B-64 append-1MiB-4"
jsonl=""
json=0
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --dirs) dirs=$2; shift 2 ;;
    --cells) cells=$2; shift 2 ;;
    --jsonl) jsonl=$2; shift 2 ;;
    --json) json=1; shift ;;
    --quick) quick=1; shift ;;
    *) echo "backends.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT
cell_args=()
for c in $cells; do cell_args+=(--cell "$c"); done
if [ "$quick" = 1 ]; then
  round_args=(--quick)
else
  round_args=(--rounds "$rounds" --seconds "$seconds")
fi
for dir in $dirs; do
  for run in $(seq 1 "$runs"); do
    for backend in io-uring threads; do
      echo "run $run/$runs on $dir: $backend" >&2
      "$binary" bench append --dir "$dir" --io-backend "$backend" --peers none --json \
        "${round_args[@]}" "${cell_args[@]}" \
        | sed "s|^{|{\"io_backend\": \"$backend\", |" >> "$out"
    done
  done
done

[ -z "$jsonl" ] || cp "$out" "$jsonl"
if [ "$json" = 1 ]; then cat "$out"; exit 0; fi
python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["file_system"], r["cell"], r["metric"]), {}).setdefault(r["io_backend"], []).append(r)
print("| file system | cell | metric | io-uring | threads | threads / io-uring | io-uring / fio QD1 | threads / fio QD1 |")
print("|---|---|---|---:|---:|---:|---:|---:|")
for (fs, cell, metric), by in sorted(groups.items()):
    u = statistics.median(r["ours"] for r in by.get("io-uring", []))
    t = statistics.median(r["ours"] for r in by.get("threads", []))
    uq = statistics.median(r["ratio_qd1"] for r in by.get("io-uring", []))
    tq = statistics.median(r["ratio_qd1"] for r in by.get("threads", []))
    print(f"| {fs} | {cell} | {metric} | {u:,.0f} | {t:,.0f} | {t / u:.2f} | {uq:.2f} | {tq:.2f} |")
EOF
