#!/usr/bin/env bash
# Measures the tierfs daemon's memory as files are looked up: N files
# (default one million) are made directly in a tier's backing directory on
# a private tmpfs, then stat'ed through the mount, once each. It prints the
# daemon's RSS at the start and after a tenth, half and all of the lookups,
# with the live nodes `tierfs status` reports, once per [cache] setting.
# A setting is a size ("64MiB") or a size and a node cap ("8MiB:0" turns
# the cap off, which shows what a node costs). TIER_KIND (default nfs)
# declares the tier's kind: tierfs keeps its metadata cache only for
# directories on nfs tiers, so "local" measures the nodes alone. Run as
# root from the repo root:
#   [TIER_KIND=local] benchmarks/memory/run.sh [N] [SIZE[:MAX_NODES]...]
set -euo pipefail
kind=${TIER_KIND:-nfs}
case $kind in
local | nfs) ;;
*) echo "TIER_KIND: want local or nfs, not \"$kind\"" >&2; exit 2 ;;
esac
n=${1:-1000000}
shift || true
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=("8MiB" "64MiB")

work=$(mktemp -d)
bin="$work/tierfs"
go build -o "$bin" ./cmd/tierfs
mkdir -p "$work/tmp" "$work/mnt"
mount -t tmpfs -o size=8g tmpfs "$work/tmp"
cleanup() {
	umount "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null || true
	umount "$work/tmp" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tmp/fast/mail/00/u/cur"
python3 - "$work/tmp/fast/mail/00/u/cur" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(f"{d}/{i:07d}", os.O_CREAT | os.O_WRONLY, 0o644))
PY

printf '| [cache] | RSS at start | after %d | after %d | after %d | live nodes (cap) | lookups/s |\n' $((n / 10)) $((n / 2)) "$n"
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for setting in "${settings[@]}"; do
	size=${setting%%:*}
	cap=""
	[ "$setting" = "$size" ] || cap="max_nodes = ${setting#*:}"
	cat > "$work/cfg.toml" <<EOT
[[tier]]
name = "fast"
path = "$work/tmp/fast"
kind = "$kind"
[[rule]]
match = "**"
tier = "fast"
[cache]
size = "$size"
$cap
EOT
	"$bin" init --config "$work/cfg.toml" > /dev/null
	"$bin" mount --foreground --config "$work/cfg.toml" "$work/mnt" 2> "$work/log" &
	pid=$!
	for _ in $(seq 100); do grep -q " $work/mnt fuse.tierfs" /proc/mounts && break; sleep 0.1; done
	python3 - "$bin" "$work/mnt" "$pid" "$n" "$setting" <<'PY'
import json, os, subprocess, sys, time
binary, mnt, pid, n, setting = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def nodes():
    out = subprocess.run([binary, "status", "--json", mnt], capture_output=True, check=True).stdout
    return json.loads(out)[0]["nodes"]

start = rss()
marks = {n // 10, n // 2, n}
seen = []
d = f"{mnt}/mail/00/u/cur"
t = time.monotonic()
for i in range(n):
    os.lstat(f"{d}/{i:07d}")
    if i + 1 in marks:
        seen.append(rss())
rate = n / (time.monotonic() - t)
time.sleep(2)  # the pruner's last pass and the FORGETs it causes
nd = nodes()
cap = nd["max"] or "none"
cells = " | ".join(f"{v:.0f} MiB" for v in seen)
print(f"| {setting} | {start:.0f} MiB | {cells} | {nd['live']} ({cap}) | {rate:.0f} |")
if not nd["max"]:
    print(f"<!-- {setting}: {(seen[-1] - start) * 1024 * 1024 / n:.0f} bytes of RSS per live node -->")
PY
	umount "$work/mnt"
	wait $pid || true
done
