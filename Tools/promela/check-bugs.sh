#!/usr/bin/env bash
# Asserts that spin rejects every deliberately broken variant of a model.
# A variant is a switch the model declares as `#ifndef BUG_NAME`; it is
# built with -DBUG_NAME=1 and must fail the safety run (assertion or invalid
# end state) or, when the model has an `ltl` block, the liveness run.
# Usage: Tools/promela/check-bugs.sh MODEL.pml [BUG_NAME...]
# (with names, only those variants).
set -euo pipefail
model=$(realpath "$1")
name=$(basename "$model")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
variants=$(grep -Eo '^#ifndef BUG_[A-Z0-9_]+' "$model" | awk '{print $2}' | sort -u)
if [ $# -gt 1 ]; then
  shift
  for wanted in "$@"; do
    if ! grep -qx "$wanted" <<<"$variants"; then
      echo "FAIL: $name has no broken variant $wanted" >&2
      exit 1
    fi
  done
  variants="$*"
fi
if [ -z "$variants" ]; then
  echo "no broken variants in $name"
  exit 0
fi
safety_cflags=$(sed -n 's|.*check.sh safety-cflags:\(.*\)\*/.*|\1|p' "$model" | head -1)
safety_cflags=${safety_cflags:--DNOREDUCE}
status=0
for variant in $variants; do
  rm -f ./*.trail pan pan_live
  spin "-D$variant=1" -a "$model" >/dev/null
  # shellcheck disable=SC2086
  gcc -O2 -w -DSAFETY -DNOCLAIM $safety_cflags -o pan pan.c 2>/dev/null || gcc -O2 -w -DSAFETY -DNOCLAIM -o pan pan.c
  out=$(./pan -m100000 2>&1 || true)
  if ! grep -q "errors: 0" <<<"$out"; then
    echo "ok (rejected, safety): $name $variant: $(grep -m1 '^pan:' <<<"$out")"
    continue
  fi
  if grep -q '^ltl' "$model"; then
    gcc -O2 -w -DNFAIR=3 -o pan_live pan.c
    out=$(./pan_live -a -f -m100000 2>&1 || true)
    if ! grep -q "errors: 0" <<<"$out"; then
      echo "ok (rejected, liveness): $name $variant: $(grep -m1 '^pan:' <<<"$out")"
      continue
    fi
  fi
  echo "FAIL: spin accepts the broken variant $variant of $name" >&2
  status=1
done
exit $status
