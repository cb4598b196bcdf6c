#!/usr/bin/env bash
# Model-checks one Promela model with spin: safety (assertions, invalid end
# states) and, when the model defines an `ltl` block, liveness with fairness.
# When the model has deliberately broken variants (`#ifndef BUG_...`
# switches), check-bugs.sh then asserts that spin rejects each of them.
#
# A model may set the C flags of its safety run with a line
#   /* check.sh safety-cflags: -DFLAG ... */
# (the default turns partial-order reduction off: -DNOREDUCE).
#
# Usage: Tools/promela/check.sh MODEL.pml [PART]
#   PART is one independent piece of the check: `safety`, `liveness` (a
#   model without an `ltl` block passes it) or one broken variant
#   (`BUG_NAME`); without it, all of them one after another.
#        Tools/promela/check.sh --parts MODEL.pml...
#   prints one line `MODEL PART` per piece, the liveness runs (the longest)
#   first, so that `make test-models` can run the pieces side by side.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
variants_of() { grep -Eo '^#ifndef BUG_[A-Z0-9_]+' "$1" | awk '{print $2}' | sort -u; }
if [ "${1:-}" = "--parts" ]; then
  shift
  for m in "$@"; do if grep -q '^ltl' "$m"; then echo "$m liveness"; fi; done
  for m in "$@"; do echo "$m safety"; done
  for m in "$@"; do for v in $(variants_of "$m"); do echo "$m $v"; done; done
  exit 0
fi
model=$(realpath "$1")
part=${2:-all}
case "$part" in
  BUG_*) exec "$here/check-bugs.sh" "$model" "$part" ;;
  all|safety|liveness) ;;
  *) echo "unknown part $part of $(basename "$model")" >&2; exit 64 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! gen=$(spin -a "$model" 2>&1) || grep -q "Error:" <<<"$gen"; then
  echo "$gen"
  echo "FAIL (spin -a): $(basename "$model")" >&2
  exit 1
fi
# Runs a compiled verifier (KIND: safety or liveness); prints its output
# and fails on any error, otherwise one line with the states stored.
run_pan() {
  local kind=$1 start=$SECONDS out states
  shift
  out=$("$@" 2>&1)
  if ! grep -q "errors: 0" <<<"$out"; then
    echo "$out"
    echo "FAIL ($kind): $(basename "$model")" >&2
    exit 1
  fi
  states=$(grep -Eo '[0-9.e+]+ states, stored' <<<"$out" | head -1)
  echo "ok ($kind): $(basename "$model"): $states, $((SECONDS - start)) s"
}
if [ "$part" != liveness ]; then
  safety_cflags=$(sed -n 's|.*check.sh safety-cflags:\(.*\)\*/.*|\1|p' "$model" | head -1)
  safety_cflags=${safety_cflags:--DNOREDUCE}
  # The safety run leaves any never claim out (-DNOCLAIM): with a claim, pan
  # does not report invalid end states (deadlocks).
  # shellcheck disable=SC2086
  gcc -O2 -w -DSAFETY -DNOCLAIM $safety_cflags -o pan pan.c 2>/dev/null || gcc -O2 -w -DSAFETY -DNOCLAIM -o pan pan.c
  run_pan safety ./pan -m100000
fi
if [ "$part" != safety ] && grep -q '^ltl' "$model"; then
  gcc -O2 -w -DNFAIR=3 -o pan_live pan.c
  run_pan liveness ./pan_live -a -f -m100000
fi
if [ "$part" = all ] && [ -n "$(variants_of "$model")" ]; then
  "$here/check-bugs.sh" "$model"
fi
