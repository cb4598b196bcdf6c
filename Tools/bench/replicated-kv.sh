#!/usr/bin/env bash
# Replicated durable puts: `journalctl-swift kv bench`, which starts a
# one-node and a three-node `kv serve` cluster on loopback (stores under
# --dir, on the disk by default), runs each client count against the one
# node then the three (interleaved, so the ratio compares runs minutes
# apart at most), and then times failover: SIGKILL of the leader to the
# first acknowledged put, --kills times.
#
# Usage: replicated-kv.sh [--dir DIR] [--clients 1,16,64] [--seconds S]
#                         [--kills N] [--binary PATH]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
binary="$root/.build/release/journalctl-swift"
dir="$root/data/bench-replicated-kv"
clients="1,16,64"
seconds=5
kills=5
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    *) echo "usage: $0 [--dir DIR] [--clients 1,16,64] [--seconds S] [--kills N] [--binary PATH]" >&2; exit 64 ;;
  esac
done
[ -x "$binary" ] || { echo "$binary is missing: swift build -c release --product journalctl-swift" >&2; exit 66; }
rm -rf "$dir"
mkdir -p "$dir"
"$binary" kv bench --dir "$dir" --clients "$clients" --seconds "$seconds" --kills "$kills"
rm -rf "$dir"
