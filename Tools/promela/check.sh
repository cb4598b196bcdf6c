#!/usr/bin/env bash
# Model-checks one Promela model with spin: safety (assertions, invalid end
# states) and, when the model defines an `ltl` block, liveness with fairness.
# When the model has deliberately broken variants (`#ifndef BUG_...`
# switches), check-bugs.sh then asserts that spin rejects each of them.
#
# A model may set the C flags of its safety run with a line
#   /* check.sh safety-cflags: -DFLAG ... */
# (the default turns partial-order reduction off: -DNOREDUCE).
# Usage: Tools/promela/check.sh MODEL.pml
set -euo pipefail
here=$(dirname "$(realpath "$0")")
model=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! gen=$(spin -a "$model" 2>&1) || grep -q "Error:" <<<"$gen"; then
  echo "$gen"
  echo "FAIL (spin -a): $(basename "$model")" >&2
  exit 1
fi
safety_cflags=$(sed -n 's|.*check.sh safety-cflags:\(.*\)\*/.*|\1|p' "$model" | head -1)
safety_cflags=${safety_cflags:--DNOREDUCE}
# The safety run leaves any never claim out (-DNOCLAIM): with a claim, pan
# does not report invalid end states (deadlocks).
# shellcheck disable=SC2086
gcc -O2 -w -DSAFETY -DNOCLAIM $safety_cflags -o pan pan.c 2>/dev/null || gcc -O2 -w -DSAFETY -DNOCLAIM -o pan pan.c
start=$SECONDS
out=$(./pan -m100000 2>&1)
if ! grep -q "errors: 0" <<<"$out"; then
  echo "$out"
  echo "FAIL (safety): $(basename "$model")" >&2
  exit 1
fi
states=$(grep -Eo '[0-9.e+]+ states, stored' <<<"$out" | head -1)
echo "ok (safety): $(basename "$model"): $states, $((SECONDS - start)) s"
if grep -q '^ltl' "$model"; then
  gcc -O2 -w -DNFAIR=3 -o pan_live pan.c
  start=$SECONDS
  out=$(./pan_live -a -f -m100000 2>&1)
  if ! grep -q "errors: 0" <<<"$out"; then
    echo "$out"
    echo "FAIL (liveness): $(basename "$model")" >&2
    exit 1
  fi
  states=$(grep -Eo '[0-9.e+]+ states, stored' <<<"$out" | head -1)
  echo "ok (liveness): $(basename "$model"): $states, $((SECONDS - start)) s"
fi
if grep -Eq '^#ifndef BUG_[A-Z0-9_]+' "$model"; then
  "$here/check-bugs.sh" "$model"
fi
