#!/usr/bin/env bash
# Instructions per 128 B append, counted by callgrind: a CPU cost that the
# noisy disk and the other processes on the machine cannot move.
#
# For each batch size (1: one durable write per append; 64: one write per 64
# records) it runs `journalctl-swift bench cpu` twice under
# `valgrind --tool=callgrind --instr-atstart=no`, with M1 and M2 records;
# instrumentation is on only around the measured appends, and
#   instructions per append = (Ir(M2) - Ir(M1)) / (M2 - M1)
# cancels what the loop costs once. The journal lives on /dev/shm, in the
# manual runtime (no background thread), with completions waited for in the
# kernel rather than polled, so the count does not depend on timing.
# Two cells append one record per write through the public APIs, in the same
# runtime: `blocking-1` (appendBlocking: an inline write) and `async-1`
# (append from a task: an inline write while the device is fast, as it is
# here); what async-1 adds to blocking-1 is the async API's own cost. The
# threaded runtime's hand-offs are counted by blocking-threaded-1 and
# async-threaded-1 (below), over the thread-pool backend: valgrind runs one
# thread at a time, and an I/O thread sleeping in io_uring_enter stalls it.
#
# stdout: one JSON object per cell (see Benchmarks/README.md); human text on
# stderr. Compares with Tools/bench/callgrind-baseline.json and exits 1 when a
# cell is more than --threshold percent above its baseline.
#
# Usage: callgrind-append.sh [--update-baseline] [--threshold PCT] [--warn-only]
#                            [--runs N] [--dir DIR] [--no-build] [--binary PATH]
#                            [--cell NAME]... (only the named cells; with
#                            --update-baseline, the others keep their figures)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
baseline_file="$root/Tools/bench/callgrind-baseline.json"
threshold=2
update=0
warn_only=0
runs=1
only=()
dir=/dev/shm
build=1
binary="$root/.build/release/journalctl-swift"
# Cells: name, API (enqueue: enqueues then pumps; blocking, async: the APIs),
# batch size, M1, M2 (records; multiples of the batch size), and optionally
# the tasks appending at once (default 1) and the cell's own threshold in
# percent (default: --threshold).
# kv-put-1: one writer's durable puts of 100 B values on a key-value store
# (`--api kv-put`), counted per put: the B+tree edit, the page deltas and the
# record, the journal's write and completion.
# blocking-threaded-1, async-threaded-1: one appender (a thread calling
# appendBlocking, a task calling append) on a journal in its threaded
# runtime, inline writes off: every append hands its batch to the I/O thread
# and waits to be woken, the trip the other cells leave out.
# async-threaded-64: the same with 64 tasks appending at once (`--tasks 64`,
# a sixth field: tasks), counted per append: batches of several records,
# one resumption per task. The threaded cells depend on thread timing
# (whether a wake-up finds its work done, how records fall into batches):
# on a loaded machine, blocking-threaded-1 ranged over 18,044-18,765 and
# async-threaded-1 over 20,807-21,466 in four runs of one build, so their
# threshold is 5%; async-threaded-64 over 4,834-5,646, so 20%. The
# baselines are the medians of those runs.
cells=("batch-1 enqueue 1 1024 3072" "batch-64 enqueue 64 2048 6144" "blocking-1 blocking 1 1024 3072" "async-1 async 1 1024 3072" "kv-put-1 kv-put 1 1024 3072" "blocking-threaded-1 blocking-threaded 1 1024 3072 1 5" "async-threaded-1 async-threaded 1 1024 3072 1 5" "async-threaded-64 async-threaded 1 1024 3072 64 20")

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
while [ $# -gt 0 ]; do
    case "$1" in
        --update-baseline) update=1 ;;
        --threshold) threshold=${2:?}; shift ;;
        --warn-only) warn_only=1 ;;
        --runs) runs=${2:?}; shift ;;
        --dir) dir=${2:?}; shift ;;
        --no-build) build=0 ;;
        --binary) binary=${2:?}; build=0; shift ;;
        --cell) only+=("${2:?}"); shift ;;
        -h|--help) usage ;;
        *) echo "callgrind-append.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "callgrind-append.sh: --runs must be a positive integer" >&2; exit 64; }
[[ "$threshold" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "callgrind-append.sh: --threshold must be a number (percent)" >&2; exit 64; }
command -v valgrind >/dev/null 2>&1 || { echo "callgrind-append.sh: valgrind not found (make setup installs it)" >&2; exit 69; }

if [ "$build" = 1 ]; then
    echo "building journalctl-swift (release)..." >&2
    (cd "$root" && swift build -c release --product journalctl-swift >&2)
fi
[ -x "$binary" ] || { echo "callgrind-append.sh: $binary not found; build it (swift build -c release)" >&2; exit 66; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Valgrind 3.19 cannot read the DWARF 5 debug info Swift emits: count a copy
# without it (the symbol table stays, so callgrind_annotate still names functions).
objcopy --strip-debug "$binary" "$work/journalctl-swift"

# Instructions counted in one run: the `totals:` line of callgrind's output.
count_instructions() { # api batch records tasks
    local out="$work/callgrind.$1.$2.$3.$4.out"
    local extra=()
    [ "$4" = 1 ] || extra=(--tasks "$4")
    SWIFT_DETERMINISTIC_HASHING=1 valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$out" \
        "$work/journalctl-swift" bench cpu --api "$1" --batch "$2" --records "$3" "${extra[@]}" --dir "$dir" \
        >"$work/driver.out" 2>"$work/valgrind.err" || {
        echo "callgrind-append.sh: the driver failed (api $1, batch $2, $3 records):" >&2
        tail -20 "$work/valgrind.err" >&2
        exit 70
    }
    grep -q '"valgrind":true' "$work/driver.out" || { echo "callgrind-append.sh: the driver did not see valgrind" >&2; exit 70; }
    awk '/^totals:/ { print $2; found = 1 } END { if (!found) exit 1 }' "$out"
}

# The baseline of a cell, or empty.
baseline_of() {
    [ -f "$baseline_file" ] || return 0
    sed -n "s/.*\"$1\": *\([0-9][0-9]*\).*/\1/p" "$baseline_file" | head -1
}

status=0
results=()
for spec in "${cells[@]}"; do
    read -r name api batch m1 m2 tasks cell_threshold <<<"$spec"
    tasks=${tasks:-1}
    cell_threshold=${cell_threshold:-$threshold}
    case "$api" in
        kv-put) cell="instructions-per-$name"; payload_bytes=100 ;;
        *) cell="instructions-per-append-$name"; payload_bytes=128 ;;
    esac
    if [ ${#only[@]} -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "$name"; then
        # Not measured: its baseline, if any, is kept as it is.
        base=$(baseline_of "$cell")
        [ -n "$base" ] && results+=("\"$cell\": $base")
        continue
    fi
    per_run=()
    for ((r = 1; r <= runs; r++)); do
        i1=$(count_instructions "$api" "$batch" "$m1" "$tasks")
        i2=$(count_instructions "$api" "$batch" "$m2" "$tasks")
        per=$(awk -v a="$i1" -v b="$i2" -v m1="$m1" -v m2="$m2" 'BEGIN { printf "%.0f", (b - a) / (m2 - m1) }')
        echo "  $cell run $r: Ir($m1)=$i1 Ir($m2)=$i2 -> $per per append" >&2
        per_run+=("$per")
    done
    median=$(printf '%s\n' "${per_run[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2 + 0.5) }')
    base=$(baseline_of "$cell")
    if [ -n "$base" ]; then
        change=$(awk -v n="$median" -v b="$base" 'BEGIN { printf "%.4f", (n - b) / b }')
        verdict=$(awk -v c="$change" -v t="$cell_threshold" 'BEGIN { print (c * 100 > t) ? "regression" : ((c * 100 < -t) ? "improvement" : "ok") }')
        base_json=$base
    else
        change=null; verdict=no-baseline; base_json=null
    fi
    echo "{\"suite\":\"cpu\",\"cell\":\"$cell\",\"instructions\":$median,\"baseline\":$base_json,\"change\":$change,\"threshold_pct\":$cell_threshold,\"status\":\"$verdict\",\"api\":\"$api\",\"batch\":$batch,\"tasks\":$tasks,\"record_bytes\":$payload_bytes,\"records\":[$m1,$m2],\"runs\":[$(IFS=,; echo "${per_run[*]}")]}"
    case "$verdict" in
        regression) echo "$cell: $median instructions per append, $(awk -v c="$change" 'BEGIN { printf "%+.1f", c * 100 }')% against the baseline $base (threshold $cell_threshold%)" >&2
                    [ "$warn_only" = 1 ] || status=1 ;;
        improvement) echo "$cell: $median, better than the baseline $base; record it with --update-baseline" >&2 ;;
        no-baseline) echo "$cell: $median (no baseline; record one with --update-baseline)" >&2 ;;
        *) echo "$cell: $median instructions per append (baseline $base)" >&2 ;;
    esac
    results+=("\"$cell\": $median")
done

if [ "$update" = 1 ]; then
    commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    {
        echo "{"
        echo "  \"note\": \"instructions per 128 B append counted by Tools/bench/callgrind-append.sh; update with --update-baseline\","
        echo "  \"commit\": \"$commit\","
        echo "  \"valgrind\": \"$(valgrind --version)\","
        echo "  \"swift\": \"$(swift --version 2>/dev/null | head -1 | sed 's/"/\\"/g')\","
        for ((i = 0; i < ${#results[@]}; i++)); do
            sep=","; [ $i -eq $((${#results[@]} - 1)) ] && sep=""
            echo "  ${results[$i]}$sep"
        done
        echo "}"
    } >"$baseline_file"
    echo "baseline written to $baseline_file" >&2
    status=0
fi
exit $status
