#!/usr/bin/env bash
# The whole pipeline on the embedded default (no key, no network). The embedded SmolLM2-135M is the
# teacher; the student is the same model cut to 20 of its 30 layers, so it starts clearly weaker. It
# learns from the teacher's filtered answers (SFT), then again with white-box logit KD, and eval scores
# teacher, student before, after SFT and after SFT + KD on questions the run never saw.
# The 135M teacher would make a meaningless judge, so eval runs without one here.
# Usage: scripts/demo.sh [RUN_DIR]   (PY=... picks the interpreter, SEED=... the random seed)
set -euo pipefail
RUN=${1:-runs/demo}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
step() { printf '\n== %s (%ss) ==\n' "$1" "$(( $(date +%s) - start ))"; }
SEED=${SEED:-0}
TRAIN=(--student "$RUN/pruned" --max-steps 32 --batch-size 4 --max-length 320 --learning-rate 5e-4 --rng-seed "$SEED")

step "student: the embedded teacher cut to 20 of its 30 layers (block influence)"
[ -f "$RUN/pruned/config.json" ] || $PY -m imitate student --out "$RUN/pruned" --keep-layers 20
step "collect: 80 shipped seed questions, embedded teacher"
$PY -m imitate collect --run "$RUN" --limit 80 --max-tokens 176 --concurrency 16 --rng-seed "$SEED"
step "filter"
$PY -m imitate filter --run "$RUN"
step "finetune: SFT (LoRA) on the kept answers"
$PY -m imitate finetune --run "$RUN" "${TRAIN[@]}" --output "$RUN/student"
step "finetune: SFT + logit KD from the teacher's weights"
$PY -m imitate finetune --run "$RUN" "${TRAIN[@]}" --output "$RUN/student_kd" --kd logit --kd-teacher embedded --kd-temperature 1
step "eval: 40 questions with references that the run never saw"
$PY -m imitate eval --run "$RUN" --eval-seeds seeds/seeds.jsonl --with-reference --limit 40 --max-tokens 112 --no-judge \
  --rng-seed "$SEED" --student "sft=$RUN/student" --student "sft+kd=$RUN/student_kd"
step "report"
$PY -m imitate report --run "$RUN"
step "done"
echo "open $RUN/report.html"
