#!/usr/bin/env bash
# Measures the tierfs daemon's memory with N files looked up (default one
# million): the files are made directly in a tier's backing directory on a
# private tmpfs, then stat'ed through the mount. It prints the daemon's RSS
# before, after the lookups, and after the kernel has forgotten the inodes
# (drop_caches), once per [cache] size given. Run as root from the repo root:
#   benchmarks/memory/run.sh [N] [CACHE_SIZE...]
set -euo pipefail
n=${1:-1000000}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=("8MiB" "64MiB")

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

rss() { awk '/^VmRSS/ {print $2/1024 " MiB"}' "/proc/$1/status"; }

for size in "${sizes[@]}"; do
	cat > "$work/cfg.toml" <<EOT
[[tier]]
name = "fast"
path = "$work/tmp/fast"
kind = "local"
[[rule]]
match = "**"
tier = "fast"
[cache]
size = "$size"
EOT
	"$bin" init --config "$work/cfg.toml" > /dev/null
	"$bin" mount --foreground --config "$work/cfg.toml" "$work/mnt" 2> "$work/log" &
	pid=$!
	for _ in $(seq 100); do grep -q " $work/mnt fuse.tierfs" /proc/mounts && break; sleep 0.1; done
	before=$(rss $pid)
	secs=$(python3 - "$work/mnt/mail/00/u/cur" "$n" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t = time.monotonic()
for i in range(n):
    os.lstat(f"{d}/{i:07d}")
print(f"{time.monotonic() - t:.1f}")
PY
)
	after=$(rss $pid)
	sync; echo 2 > /proc/sys/vm/drop_caches; sleep 2
	forgotten=$(rss $pid)
	echo "cache.size=$size files=$n lookups_s=$secs rss_start=$before rss_after_lookups=$after rss_after_drop_caches=$forgotten"
	umount "$work/mnt"
	wait $pid || true
done
