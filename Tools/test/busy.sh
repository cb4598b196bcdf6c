#!/usr/bin/env bash
# Runs `make test` RUNS times in a row while stress-ng keeps every core
# busy with other work, stopping at the first failure. Why: no test may
# depend on timing, and a verdict that holds only on an idle machine fails
# one day on a busy CI host. stress-ng runs beside the tests as it would
# after `stress-ng --cpu 2 & make test` in one shell: one worker per core,
# each competing with every test thread and child process for the cores.
#
# The first run searches every model piece; later runs print the verdicts
# the first one found for unchanged models (MODEL_CACHE=0 searches in every
# run). Prints one line per run (its wall time and the load average at its
# end), then "N passed, N failed". Each run's output is kept in
# .build/busy/run-N.log; a failed run's last lines are printed.
# Usage: Tools/test/busy.sh [RUNS]   (default 10)
set -uo pipefail
runs=${1:-10}
cores=$(nproc)
logs=.build/busy
command -v stress-ng > /dev/null || { echo "busy.sh: stress-ng is not installed (make setup)" >&2; exit 2; }
rm -rf "$logs" && mkdir -p "$logs"

# Job control: each background job leads a process group of its own (in
# the same session, so the scheduler still weighs it as a shell's job), so
# that an interrupted or killed script stops the whole tree of a run and
# stress-ng with it.
set -m
child=""
stop_all() {
  [ -n "$child" ] && kill -- -"$child" 2> /dev/null
  kill -- -"$stress" 2> /dev/null
  wait 2> /dev/null
}
stress-ng --cpu "$cores" --cpu-method matrixprod --quiet > "$logs/stress-ng.log" 2>&1 < /dev/null &
stress=$!
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "stress-ng --cpu $cores started (pid $stress)"

passed=0
failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  # The first run searches every model piece beside stress-ng; the later
  # ones reuse those verdicts (Tools/promela/cached.sh), which cannot
  # change, unless MODEL_CACHE=0 is set for every run.
  cache=${MODEL_CACHE:-1}
  [ "$i" -eq 1 ] && cache=0
  MODEL_CACHE=$cache make test > "$logs/run-$i.log" 2>&1 < /dev/null &
  child=$!
  if wait "$child"; then
    passed=$((passed + 1))
    verdict=passed
  else
    failed=$((failed + 1))
    verdict=FAILED
  fi
  child=""
  printf 'run %d of %d: %s in %d s (load average %s; model pieces %s)\n' "$i" "$runs" "$verdict" \
    $(( $(date +%s) - start )) "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$([ "$cache" = 0 ] && echo searched || echo "cached if unchanged")"
  if [ "$verdict" = FAILED ]; then
    tail -n 60 "$logs/run-$i.log"
    break
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -eq "$runs" ]
