#!/usr/bin/env bash
# The whole pipeline on the embedded default (no key, no network). The embedded SmolLM2-135M is the
# teacher; the student is the same model cut to 26 of its 30 layers, so it starts clearly weaker. It
# learns from the teacher's filtered answers (SFT), then again with white-box logit KD, and eval scores
# teacher, student before, after SFT and after SFT + KD on questions the run never saw.
# The 135M teacher would make a meaningless judge, so eval runs without one here.
# Usage: scripts/demo.sh [RUN_DIR]
#   PY=...     the interpreter (default .venv/bin/python)
#   SEED=...   the random seed of collect, finetune and eval (default 0)
#   KEEP=...   decoder layers the pruned student keeps (default 26 of 30: it answers about half as many
#              eval questions right as the teacher; at 20 it answers almost none)
#   SIZE=full  about 17 minutes here, against 3: two answers each to the first 80 seeds and to every
#              other shipped seed with no reference (142 questions, 284 answers), 64 steps per student at
#              learning rate 5e-4, up to 80 eval questions (the 74 with a reference never collected, and
#              those finetune held out). Default: one answer each to the first 48 seeds, 8 steps at 1e-3
#              (as close to the teacher as 16 at 5e-4 on seeds 0 and 1, in half the time), 24 questions
set -euo pipefail
RUN=${1:-runs/demo}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
step() { printf '\n== %s (at %ss) ==\n' "$1" "$(( $(date +%s) - start ))"; }
SEED=${SEED:-0}
KEEP=${KEEP:-26}
case ${SIZE:-small} in
  small) SEEDS=48 SAMPLES=1 STEPS=8 LR=1e-3 QUESTIONS=24 ;;
  full) SEEDS=80 SAMPLES=2 STEPS=64 LR=5e-4 QUESTIONS=80 ;;
  *) echo "SIZE must be small or full, got '$SIZE'" >&2; exit 2 ;;
esac
TRAIN=(--student "$RUN/pruned" --max-steps "$STEPS" --batch-size 4 --max-length 320 --learning-rate "$LR"
       --rng-seed "$SEED")

# A rerun must find the run it asks for: `same FILE EXPR WANT WHAT` stops (exit 2) when FILE exists and
# EXPR, Python of its JSON d, is not WANT.
same() {
  [ -f "$1" ] || return 0
  have=$($PY -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1")
  [ "$have" = "$3" ] || { echo "$RUN has $have $4, not $3: remove $RUN or give another run folder" >&2; exit 2; }
}
same "$RUN/collect_config.json" 'd["samples"]' "$SAMPLES" "answer(s) per question (SIZE=${SIZE:-small})"
same "$RUN/pruned/pruned.json" 'len(d["kept"])' "$KEEP" "student layers (KEEP)"
step "student: the embedded teacher cut to $KEEP of its 30 layers (block influence)"
[ -f "$RUN/pruned/config.json" ] || $PY -m imitate student --out "$RUN/pruned" --keep-layers "$KEEP"
COLLECT=(--run "$RUN" --samples "$SAMPLES" --max-tokens 176 --concurrency 16 --rng-seed "$SEED")
step "collect: $SEEDS shipped seed questions, $SAMPLES answer(s) each, embedded teacher"
$PY -m imitate collect "${COLLECT[@]}" --limit "$SEEDS"
if [ "$SAMPLES" -gt 1 ]; then   # SIZE=full: more to learn from, with the referenced questions left for eval
  step "collect: every other shipped seed question that has no reference"
  $PY -m imitate collect "${COLLECT[@]}" --without-reference
fi
step "filter"
$PY -m imitate filter --run "$RUN"
step "finetune: SFT (LoRA) on the kept answers, $STEPS steps"
$PY -m imitate finetune --run "$RUN" "${TRAIN[@]}" --output "$RUN/student"
step "finetune: SFT + logit KD from the teacher's weights, $STEPS steps (its training loss adds the KL term, so it reads higher than SFT's; the held-out loss is CE alone)"
$PY -m imitate finetune --run "$RUN" "${TRAIN[@]}" --output "$RUN/student_kd" --kd logit --kd-teacher embedded --kd-temperature 1
step "eval: $QUESTIONS questions with references that no student trained on"
$PY -m imitate eval --run "$RUN" --eval-seeds seeds/seeds.jsonl --with-reference --limit "$QUESTIONS" --max-tokens 112 \
  --no-judge --rng-seed "$SEED" --student "sft=$RUN/student" --student "sft+kd=$RUN/student_kd"
step "report"
$PY -m imitate report --run "$RUN"
step "done"
echo "open $RUN/report.html"
