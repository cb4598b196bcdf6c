#!/usr/bin/env bash
# The journal's 64 waiting async appenders on tmpfs beside the floor under
# them: `bench suspension-floor` (64 tasks suspending on continuations that
# one thread resumes, no journal, no I/O), alternately (floor, journal,
# floor, journal, ...), so both meet the machine's other load in the same
# minutes. Every async append waits for durability with one suspension, so
# the floor is the most appends/s any design of that kind reaches here.
#
# Each run is one `bench suspension-floor --rounds R` and one `bench append
# --api async --cell append-128B-64 --rounds R` (fio runs beside the
# journal in each round, as always; no other peer). Prints each run's two
# medians and their ratio, then the medians over runs and the ratio of
# medians.
#
# Usage: async-floor.sh [--runs N] [--rounds N] [--seconds S] [--tasks N]
#                       [--binary PATH] [--dir DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
binary="$root/.build/release/journalctl-swift"
runs=3
rounds=3
seconds=3
tasks=64
dir=/dev/shm/async-floor
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;  # 1, 4, 16 or 64: the cells of bench append
    --binary) binary=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "async-floor.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
[ -x "$binary" ] || { echo "async-floor.sh: $binary not found (make release)" >&2; exit 66; }
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])[sys.argv[1]])' "$1"; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

floors=()
journals=()
for run in $(seq 1 "$runs"); do
  floor=$("$binary" bench suspension-floor --tasks "$tasks" --seconds "$seconds" --rounds "$rounds" --json | field suspensions_per_s_median)
  journal=$("$binary" bench append --api async --dir "$dir" --cell "append-128B-$tasks" --rounds "$rounds" \
    --seconds "$seconds" --peers none --json | field ours)
  floors+=("$floor")
  journals+=("$journal")
  printf 'run %d: floor %.0f suspensions/s, journal %.0f appends/s, journal/floor %.3f\n' \
    "$run" "$floor" "$journal" "$(python3 -c "print($journal / $floor)")"
done
f=$(median "${floors[@]}")
j=$(median "${journals[@]}")
printf 'median over %d runs: floor %.0f suspensions/s, journal %.0f appends/s, journal/floor %.3f\n' \
  "$runs" "$f" "$j" "$(python3 -c "print($j / $f)")"
