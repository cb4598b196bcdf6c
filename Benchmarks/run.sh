#!/usr/bin/env bash
# The hot-path microbenchmarks (ordo-one/benchmark) against the baseline
# stored in Benchmarks/.benchmarkBaselines/HotPaths/default.
#
# Runs every benchmark once (release build), stores the run as the baseline
# `current`, checks it against `default` with the thresholds configured in
# Benchmarks/HotPaths/HotPaths.swift (allocations exact, wall clock and
# throughput medians within 35%), prints one JSON object per benchmark and
# metric on stdout (see README.md beside this file), and exits 1 on a
# regression. Human text (the benchmark tool's tables) goes to stderr.
#
# Usage: Benchmarks/run.sh [--update-baseline] [--filter REGEX]
#   --update-baseline  run and store the run as the new `default` baseline
#   --filter REGEX     only the benchmarks whose name matches
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
update=0
filter=()
while [ $# -gt 0 ]; do
    case "$1" in
        --update-baseline) update=1 ;;
        --filter) filter=(--filter "${2:?}"); shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 64 ;;
    esac
    shift
done

# The per-line `status` applies the thresholds of HotPaths.swift to the 25th
# percentile (the exit code comes from the tool's own check of them).
time_threshold_pct() { # benchmark
    case "$1" in *-1MiB) echo 100 ;; *) echo 35 ;; esac
}

benchmark() {
    swift package --allow-writing-to-package-directory benchmark "$@" --target HotPaths "${filter[@]}" --no-progress
}

work=$(mktemp -d)
trap 'rm -rf "$work" "$here/.benchmarkBaselines/HotPaths/current"' EXIT

# The 25th and 50th percentiles of every benchmark and metric of a stored
# baseline, as lines "benchmark metric p25 p50 scale", from the tool's
# percentile export.
percentiles() { # baseline
    mkdir -p "$work/$1"
    benchmark baseline read "$1" --format histogramPercentiles --path "$work/$1" >&2
    for f in "$work/$1"/*.histogram.percentiles.tsv; do
        [ -e "$f" ] || continue
        name=${f##*/}
        name=${name#"$1".HotPaths.}
        name=${name%.histogram.percentiles.tsv}
        metric=${name##*.}
        bench=${name%.*}
        # The header names the unit, e.g. "Throughput (# / s) (K)": the tool
        # scales throughput by the benchmark's scaling factor.
        awk -v b="$bench" -v m="$metric" -F'\t' '
            NR == 1 { u = "1"; if ($2 ~ /\(K\)/) u = "K"; else if ($2 ~ /\(M\)/) u = "M" }
            # Throughput is the reciprocal of time: its better quartile,
            # the one the check compares, is the 75th percentile.
            $1 == (m == "throughput" ? "75" : "25") { p25 = $2 }
            $1 == "50" { p50 = $2 }
            END { print b, m, p25, p50, u }' "$f"
    done | sort
}

unit_of() { # metric scale
    case "$1" in
        wallClock) echo ns ;;
        throughput) case "$2" in K) echo thousands-per-second ;; M) echo millions-per-second ;; *) echo per-second ;; esac ;;
        mallocCountTotal) echo count ;;
        *) echo "" ;;
    esac
}

json_line() { # bench metric p25 p50 scale baseline_p25 baseline_p50 change status
    echo "{\"suite\":\"micro\",\"cell\":\"$1\",\"metric\":\"$2\",\"unit\":\"$(unit_of "$2" "$5")\",\"p25\":$3,\"p50\":$4,\"baseline_p25\":$6,\"baseline_p50\":$7,\"change\":$8,\"status\":\"$9\"}"
}

if [ "$update" = 1 ]; then
    benchmark baseline update default >&2
    percentiles default | while read -r bench metric p25 p50 scale; do
        json_line "$bench" "$metric" "$p25" "$p50" "$scale" null null null baseline-updated
    done
    echo "baseline written to Benchmarks/.benchmarkBaselines/HotPaths/default" >&2
    exit 0
fi

[ -d .benchmarkBaselines/HotPaths/default ] || { echo "run.sh: no baseline; record one with --update-baseline" >&2; exit 66; }
benchmark baseline update current >&2
# `swift package` exits 1 whatever the tool's verdict: read the verdict
# from the tool's output.
set +e
benchmark baseline check default current >"$work/check.out" 2>&1
check=$?
set -e
cat "$work/check.out" >&2

percentiles default >"$work/default.p"
percentiles current >"$work/current.p"
join -j1 <(awk '{ print $1 "/" $2, $3, $4, $5 }' "$work/current.p" | sort) \
         <(awk '{ print $1 "/" $2, $3, $4 }' "$work/default.p" | sort) |
while read -r key p25 p50 scale base25 base50; do
    bench=${key%/*}
    metric=${key#*/}
    read -r change status < <(awk -v n="$p25" -v b="$base25" -v m="$metric" -v t="$(time_threshold_pct "$bench")" 'BEGIN {
        c = (b != 0) ? (n - b) / b : ((n == b) ? 0 : 1)
        if (m == "mallocCountTotal") s = (n > b) ? "regression" : ((n < b) ? "improvement" : "ok")
        else {
            worse = (m == "throughput") ? -c : c
            s = (worse * 100 > t) ? "regression" : ((worse * 100 < -t) ? "improvement" : "ok")
        }
        printf "%.4f %s\n", c, s
    }')
    json_line "$bench" "$metric" "$p25" "$p50" "$scale" "$base25" "$base50" "$change" "$status"
done

if [ "$check" = 0 ]; then
    echo "no regression against the baseline" >&2
    exit 0
elif grep -q "benchmarkThresholdRegression\|is WORSE than" "$work/check.out"; then
    echo "REGRESSION against the baseline (see the deviations above)" >&2
    exit 1
elif grep -q "benchmarkThresholdImprovement\|is BETTER than" "$work/check.out"; then
    echo "better than the baseline past a threshold; consider --update-baseline" >&2
    exit 0
else
    echo "run.sh: the benchmark tool failed (exit $check)" >&2
    exit 70
fi
