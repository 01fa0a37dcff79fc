#!/usr/bin/env bash
# `make demo` on a fresh clone as a slower machine would run it: this process and its children get
# CPUS of this machine's CPUs (a cgroup v1 CPU quota: needs root and a writable /sys/fs/cgroup/cpu), the
# model runs in fp32 (IMITATE_CPU_DTYPE; a CPU without fast bf16), and the model cache starts empty.
# Prints each stage's start (demo.sh) and the whole wall time. The defaults emulate the slower machines of
# shared/facts.md: plain batched generate 34 tok/s there against 65 here, so 2 / 1.9 = 1.05 CPUs of 2.
# Usage: benchmarks/slow_demo.sh [CPUS] [CLONE_DIR]    (defaults: 1.05, /tmp/slow_demo)
set -euo pipefail
CPUS=${1:-1.05}
DIR=${2:-/tmp/slow_demo}
REPO=$(cd "$(dirname "$0")/.." && pwd)
GROUP=/sys/fs/cgroup/cpu/imitate_slow_demo
if ! mkdir -p "$GROUP" 2>/dev/null || [ ! -w "$GROUP/cpu.cfs_quota_us" ]; then
  echo "error: cannot write a CPU quota under /sys/fs/cgroup/cpu (cgroup v1, as root)" >&2
  exit 2
fi
echo 100000 > "$GROUP/cpu.cfs_period_us"
quota=$(python3 -c "import sys; print(round(float(sys.argv[1]) * 100000))" "$CPUS")
echo "$quota" > "$GROUP/cpu.cfs_quota_us"
echo $$ > "$GROUP/cgroup.procs"
rm -rf "$DIR"
git clone -q "$REPO" "$DIR/repo"
cd "$DIR/repo"
export IMITATE_CACHE="$DIR/cache" IMITATE_CPU_DTYPE=float32
start=$(date +%s)
make demo
echo "slow_demo: $CPUS CPUs, fp32: make demo took $(( $(date +%s) - start )) s"
