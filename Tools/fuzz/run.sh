#!/usr/bin/env bash
# Builds the journal fuzz target and runs libFuzzer on it.
#
#   Tools/fuzz/run.sh [seconds]        fuzz for that long (default 300)
#   FUZZ_WORKERS=n                     libFuzzer fork mode with n workers
#   Tools/fuzz/run.sh --build          build only
#   Tools/fuzz/run.sh --repro FILE...  run the target once on each file
#
# The journal's modules are built by SwiftPM with coverage instrumentation
# and AddressSanitizer (scratch path .build-fuzz), the target
# (JournalFuzz.swift, Seeds.swift) by swiftc, linked against them with
# libFuzzer's main. The seed corpus is written by the target itself into
# .build-fuzz/seeds on every run; the working corpus grows in
# .build-fuzz/corpus; Tools/fuzz/crashes/ holds reproducers of fixed bugs,
# read as seeds so they stay fixed. A new crash is saved under
# .build-fuzz/artifacts/ and the script fails.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# The Swift runtime's backtracer fights ASan over the crashed process; the
# sanitizer's report has the stack.
export SWIFT_BACKTRACE=enable=no

SWIFT="${SWIFT:-swift}"
SWIFTC="${SWIFTC:-swiftc}"
scratch=.build-fuzz
out="$scratch/fuzz"
binary="$out/journal-fuzz"

# An input of 300 KB at most: files are sized by the metadata the harness
# synthesizes (16 pages of 16 KiB at most, 6 files), so every allocation
# the journal makes is bounded by a few MiB; anything near the malloc limit
# is out of proportion to the input.
FUZZ_FLAGS=(-max_len=300000 -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 -print_final_stats=1)

# Coverage and comparison tracing, spelled out: swiftc's -sanitize=fuzzer
# alone instruments nothing in a whole-module build (SwiftPM's release
# builds), which left libFuzzer blind to the journal's own code.
COVERAGE=edge,inline-8bit-counters,pc-table,trace-cmp

build() {
    # A whole-module build skips writing an object whose code is unchanged
    # before instrumentation: objects built without these flags would stay.
    local stamp="$scratch/coverage-flags"
    if [ -d "$scratch" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$COVERAGE" ]; then
        find "$scratch" -path '*/release/*.build/*.o' -delete
    fi
    "$SWIFT" build -c release --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
        -Xswiftc -sanitize-coverage="$COVERAGE" --target Journal >&2
    local bin
    bin="$("$SWIFT" build -c release --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
        -Xswiftc -sanitize-coverage="$COVERAGE" --show-bin-path)"
    mkdir -p "$out"
    local objects=()
    for module in CJournalShims CJournalConcurrency JournalPrimitives JournalStorage Logging CoreMetrics Metrics Journal; do
        objects+=("$bin/$module.build/"*.o)
    done
    "$SWIFTC" -O -g -parse-as-library -swift-version 6 -module-name JournalFuzz \
        -sanitize=fuzzer,address -sanitize-coverage="$COVERAGE" -use-ld=lld \
        -I "$bin/Modules" \
        -Xcc -fmodule-map-file="$bin/CJournalShims.build/module.modulemap" \
        -Xcc -I -Xcc Sources/CJournalShims/include \
        -Xcc -fmodule-map-file="$bin/CJournalConcurrency.build/module.modulemap" \
        -Xcc -I -Xcc Sources/CJournalConcurrency/include \
        "$here/JournalFuzz.swift" "$here/MemoryStorage.swift" "$here/Seeds.swift" \
        "${objects[@]}" \
        -o "$binary"
    echo "$COVERAGE" > "$stamp"
}

case "${1:-}" in
    --build)
        build
        exit 0
        ;;
    --repro)
        shift
        build
        exec "$binary" "${FUZZ_FLAGS[@]}" -runs=1 "$@"
        ;;
esac

seconds="${1:-300}"
build
rm -rf "$scratch/seeds"
mkdir -p "$scratch/corpus" "$scratch/artifacts" "$here/crashes"
JOURNAL_FUZZ_WRITE_SEEDS="$scratch/seeds" "$binary"
workers="${FUZZ_WORKERS:-1}"
extra=()
if [ "$workers" -gt 1 ]; then extra=(-fork="$workers" -ignore_crashes=0); fi
exec "$binary" "${FUZZ_FLAGS[@]}" "${extra[@]}" -max_total_time="$seconds" \
    -artifact_prefix="$scratch/artifacts/" \
    "$scratch/corpus" "$scratch/seeds" "$here/crashes"
