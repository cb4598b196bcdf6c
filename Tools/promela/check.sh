#!/usr/bin/env bash
# Model-checks one Promela model with spin: safety (assertions, invalid end
# states) and, when the model defines an `ltl` block, liveness with fairness.
# Usage: Tools/promela/check.sh MODEL.pml
set -euo pipefail
model=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! gen=$(spin -a "$model" 2>&1) || grep -q "Error:" <<<"$gen"; then
  echo "$gen"
  echo "FAIL (spin -a): $(basename "$model")" >&2
  exit 1
fi
# The safety run leaves any never claim out (-DNOCLAIM): with a claim, pan
# does not report invalid end states (deadlocks).
gcc -O2 -w -DSAFETY -DNOCLAIM -DNOREDUCE -o pan pan.c 2>/dev/null || gcc -O2 -w -DSAFETY -DNOCLAIM -o pan pan.c
out=$(./pan -m100000 2>&1)
if ! grep -q "errors: 0" <<<"$out"; then
  echo "$out"
  echo "FAIL (safety): $(basename "$model")" >&2
  exit 1
fi
states=$(grep -Eo '[0-9.e+]+ states, stored' <<<"$out" | head -1)
echo "ok (safety): $(basename "$model"): $states"
if grep -q '^ltl' "$model"; then
  gcc -O2 -w -DNFAIR=3 -o pan_live pan.c
  out=$(./pan_live -a -f -m100000 2>&1)
  if ! grep -q "errors: 0" <<<"$out"; then
    echo "$out"
    echo "FAIL (liveness): $(basename "$model")" >&2
    exit 1
  fi
  echo "ok (liveness): $(basename "$model")"
fi
