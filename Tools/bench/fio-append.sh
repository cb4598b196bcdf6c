#!/bin/sh
# The fio runs that `journalctl-swift bench append` puts beside the journal,
# for running them by hand. Usage: fio-append.sh [dir] [seconds]
#
# Every write is sequential, direct and durable (O_DSYNC) through io_uring,
# like the journal's batch writes. The file is written once with zeros first:
# on ext4 a durable direct write into an fallocated (unwritten) extent also
# commits metadata, and the journal's segments are zero-filled for that reason.
set -eu
dir=${1:-./data/bench}
seconds=${2:-3}
command -v fio >/dev/null 2>&1 || { echo "error: fio not found; install it (apt-get install -y fio)" >&2; exit 69; }
mkdir -p "$dir"
file="$dir/fio-append.dat"
trap 'rm -f "$file"' EXIT
for bs in 4096 65536 1048576; do
    size=$((bs * 256)); [ "$size" -lt $((64 << 20)) ] && size=$((64 << 20)); [ "$size" -gt $((256 << 20)) ] && size=$((256 << 20))
    dd if=/dev/zero of="$file" bs=1M count=$((size >> 20)) conv=fsync status=none
    for qd in 1 4; do
        echo "== bs=$bs iodepth=$qd"
        fio --name=journal-peer --filename="$file" --size="$size" \
            --rw=write --bs="$bs" --iodepth="$qd" \
            --ioengine=io_uring --direct=1 --sync=dsync \
            --time_based --runtime="${seconds}s" --ramp_time=500ms \
            --lat_percentiles=1 --output-format=json |
            python3 -c 'import json,sys; w=json.load(sys.stdin)["jobs"][0]["write"]; p=w["lat_ns"]["percentile"]; print("iops %.0f  MB/s %.1f  p50 %.1f us  p99 %.1f us" % (w["iops"], w["bw_bytes"]/1e6, p["50.000000"]/1e3, p["99.000000"]/1e3))'
    done
done
