#!/usr/bin/env bash
# Runs one piece of a model's check (Tools/promela/check.sh MODEL PART),
# or, when the same piece already passed for the same inputs, prints what
# it printed then, marked "(cached)". The inputs are the model's text, the
# check scripts, and the versions of spin and the C compiler: spin's search
# is exhaustive and deterministic, so its verdict on the same inputs cannot
# change. A fresh clone (CI) has no cache and checks everything.
# MODEL_CACHE=0 checks every piece again. The cache lives in .build/models
# (`make clean` removes it).
# Usage: Tools/promela/cached.sh MODEL.pml PART
set -euo pipefail
here=$(dirname "$(realpath "$0")")
model=$1
part=$2
cache="$here/../../.build/models"
key=$( { cat "$model" "$here/check.sh" "$here/check-bugs.sh"; spin -V; gcc --version | sed -n 1p; } | sha256sum | cut -c1-16)
stamp="$cache/$(basename "$model" .pml).$part.$key"
if [ "${MODEL_CACHE:-1}" != 0 ] && [ -f "$stamp" ]; then
  sed 's/^/(cached) /' "$stamp"
  exit 0
fi
status=0
out=$("$here/check.sh" "$model" "$part" 2>&1) || status=$?
printf '%s\n' "$out"
if [ "$status" -eq 0 ]; then
  mkdir -p "$cache"
  printf '%s\n' "$out" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
fi
exit "$status"
