#!/usr/bin/env bash
# `make demo` on a fresh clone of this repository's committed HEAD, as a slower machine would run it:
# this process and its children get this machine's CPUs divided by SLOWER (a cgroup v1 CPU quota:
# needs root and a writable /sys/fs/cgroup/cpu; cgroup v2 is not handled), the model runs in fp32
# (IMITATE_CPU_DTYPE: a CPU without fast bf16), and the model cache starts empty. Prints each stage's
# start (demo.sh) and the whole wall time. The default emulates the slower machines of shared/facts.md:
# plain batched generate 34 tok/s there against 65 here, 1.9x slower.
# Usage: benchmarks/slow_demo.sh [SLOWER] [DIR]    (defaults: 1.9, /tmp/slow_demo; DIR/repo and
#        DIR/cache are replaced)
set -euo pipefail
SLOWER=${1:-1.9}
DIR=${2:-/tmp/slow_demo}
REPO=$(cd "$(dirname "$0")/.." && pwd)
GROUP=/sys/fs/cgroup/cpu/imitate_slow_demo
if ! mkdir -p "$GROUP" 2>/dev/null || [ ! -w "$GROUP/cpu.cfs_quota_us" ]; then
  echo "error: cannot write a CPU quota under /sys/fs/cgroup/cpu (cgroup v1, as root)" >&2
  exit 2
fi
quota=$(python3 -c "import os, sys; print(round(os.cpu_count() * 100000 / float(sys.argv[1])))" "$SLOWER")
echo 100000 > "$GROUP/cpu.cfs_period_us"
echo "$quota" > "$GROUP/cpu.cfs_quota_us"
echo $$ > "$GROUP/cgroup.procs"
rm -rf "$DIR/repo" "$DIR/cache"
mkdir -p "$DIR"
git clone -q "$REPO" "$DIR/repo"
cd "$DIR/repo"
export IMITATE_CACHE="$DIR/cache" IMITATE_CPU_DTYPE=float32
start=$(date +%s)
make demo
echo "slow_demo: $(python3 -c "print($quota / 100000)") CPUs (1/$SLOWER of $(nproc)), fp32: make demo took $(( $(date +%s) - start )) s"
