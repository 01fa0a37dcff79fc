#!/usr/bin/env bash
# The whole pipeline on the embedded default (no key, no network): collect -> filter -> finetune -> report.
# Sized to finish in well under 15 minutes on 2 CPU cores. Usage: scripts/demo.sh [RUN_DIR]
set -euo pipefail
RUN=${1:-runs/demo}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
step() { printf '\n== %s (%ss) ==\n' "$1" "$(( $(date +%s) - start ))"; }

step "collect: 96 shipped seeds, embedded teacher"
$PY -m imitate collect --run "$RUN" --limit 96 --max-tokens 192 --concurrency 8
step "filter"
$PY -m imitate filter --run "$RUN"
step "finetune: LoRA on the embedded student"
$PY -m imitate finetune --run "$RUN" --max-steps 24 --batch-size 4 --max-length 384
step "report"
$PY -m imitate report --run "$RUN"
step "done"
echo "open $RUN/report.html"
