#!/usr/bin/env bash
# Runs the test bundle as several processes side by side: one per FILTER
# (a `--filter` pattern), and one for every test no FILTER matches
# (`--skip` of all of them), so the shards together run each test exactly
# once. Why: the tests of one process share the concurrency runtime's
# threads, one per core, and a test that waits for a child process or a
# condition holds one of them; in processes of their own, the waiting
# tests no longer keep the others off the cores.
#
# Each shard's output is printed whole when the shard ends, shards in the
# order given, with its wall and CPU time (the test processes and their
# children); the exit status is that of the first failed shard (0 when
# every shard passed).
# Usage: Tools/test/run-shards.sh BUNDLE FILTER...
# (BUNDLE: the package's test bundle, e.g. .build/debug/<package>PackageTests.xctest)
set -uo pipefail
bundle=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
skip=$(IFS='|'; echo "$*")
pids=()
names=()
for filter in "$@" ""; do
  if [ -n "$filter" ]; then
    args=(--filter "$filter")
  else
    args=(--skip "$skip")
  fi
  n=${#pids[@]}
  names+=("${args[*]}")
  (
    TIMEFORMAT="%R s wall, %U s user, %S s sys"
    { time "$bundle" --testing-library swift-testing "${args[@]}" >"$work/$n.log" 2>&1; } 2>"$work/$n.time"
    status=$?
    echo "shard ${args[*]}: exit status $status, $(cat "$work/$n.time")" >>"$work/$n.log"
    exit $status
  ) &
  pids+=($!)
done
result=0
for n in "${!pids[@]}"; do
  wait "${pids[$n]}"
  status=$?
  cat "$work/$n.log"
  if [ $status -ne 0 ] && [ $result -eq 0 ]; then
    echo "FAIL: shard ${names[$n]}" >&2
    result=$status
  fi
done
exit $result
