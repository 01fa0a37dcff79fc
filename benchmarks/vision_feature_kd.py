"""Cross-modal feature KD on CPU: does the MSE fall, and what does it cost per step against plain SFT?

A tiny random-init SmolVLM-shaped student (imitate.vision.tiny: Idefics3, 4 layers of 128, 4 image
tokens per image) and a tiny random-init SigLIP encoder (an 8 x 8 patch grid, 96 wide) as the KD
teacher, on the drawn image set (imitate.vision.drawn, 40 images) answered with their references. Two
trainers from the same finetune Config, one with `--kd feature --kd-teacher ENCODER`, built by
`finetune.build_trainer` as the CLI builds them; their optimizer steps (one record each) are
interleaved one by one in this process, the order swapped every step, so both see the same machine
load even on a shared machine. Step time: the median over the steps after --warmup, in wall seconds
and in CPU seconds of this process (all its threads). The last line printed is JSON.

    python benchmarks/vision_feature_kd.py              # ~2 minutes on 2 CPU cores
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40, help="optimizer steps of each trainer (one record each)")
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p.parse_args(argv)


def records(root: Path) -> Path:
    from imitate.vision import drawn
    seeds = drawn.draw(root / "set")
    out = root / "kept.jsonl"
    with out.open("w") as f:
        for s in map(json.loads, seeds.read_text().splitlines()):
            img = (seeds.parent / s["image"]).resolve()
            f.write(json.dumps({"id": s["id"], "seed_id": s["id"], "messages": [
                {"role": "user", "content": s["question"]},
                {"role": "assistant", "content": f"The answer is {s['reference']}."}],
                "images": [{"path": str(img), "sha256": hashlib.sha256(img.read_bytes()).hexdigest()}]}) + "\n")
    return out


def trainer(root: Path, kept: Path, student: Path, encoder: Path | None, args):
    from imitate.stages import finetune

    kd = {"kd": ["feature"], "kd_teacher": [str(encoder)]} if encoder else {}
    cfg = finetune.Config(run=str(root / "run"), input=str(kept), student=str(student), max_steps=args.steps,
                          batch_size=1, learning_rate=5e-3, eval_fraction=0.1, max_length=256, **kd)
    tr, _ = finetune.build_trainer(cfg)
    tr.create_optimizer()
    tr.current_gradient_accumulation_steps = 1
    tr.model.train()
    return tr


def batches(tr):
    while True:
        yield from tr.get_train_dataloader()


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from imitate.vision.tiny import build_encoder, build_vlm

    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="vision_kd_"))
    kept = records(root)
    student, encoder = build_vlm(root / "student", hidden=128, layers=4), build_encoder(root / "siglip", hidden=96)
    runs = {"sft": trainer(root, kept, student, None, args), "kd": trainer(root, kept, student, encoder, args)}
    data = {k: batches(tr) for k, tr in runs.items()}
    wall, cpu, loss = ({k: [] for k in runs} for _ in range(3))
    for step in range(args.steps):
        for k in (("sft", "kd") if step % 2 == 0 else ("kd", "sft")):
            tr = runs[k]
            batch = next(data[k])
            t0, c0 = time.perf_counter(), time.process_time()
            loss[k].append(float(tr.training_step(tr.model, batch)))
            tr.optimizer.step()
            tr.optimizer.zero_grad()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    mse = runs["kd"].kd_logs["kd_mse"]
    med = {k: (statistics.median(wall[k][args.warmup:]), statistics.median(cpu[k][args.warmup:])) for k in runs}
    print(f"SFT {med['sft'][0]:.3f} s/step ({med['sft'][1]:.3f} CPU-s), KD {med['kd'][0]:.3f} s/step "
          f"({med['kd'][1]:.3f} CPU-s); KD MSE {mse[0]:.3f} -> {mse[-1]:.3f}", file=sys.stderr)
    result = {"steps": args.steps, "threads": args.threads, "sft_step_s": round(med["sft"][0], 4),
              "kd_step_s": round(med["kd"][0], 4), "kd_over_sft": round(med["kd"][0] / med["sft"][0], 3),
              "sft_step_cpu_s": round(med["sft"][1], 4), "kd_step_cpu_s": round(med["kd"][1], 4),
              "kd_over_sft_cpu": round(med["kd"][1] / med["sft"][1], 3),
              "kd_mse_first5": round(statistics.mean(mse[:5]), 4), "kd_mse_last5": round(statistics.mean(mse[-5:]), 4),
              "kd_loss_first5_last5": [round(statistics.mean(loss["kd"][:5]), 3), round(statistics.mean(loss["kd"][-5:]), 3)],
              "sft_loss_first5_last5": [round(statistics.mean(loss["sft"][:5]), 3),
                                        round(statistics.mean(loss["sft"][-5:]), 3)],
              "load_avg": [round(x, 1) for x in os.getloadavg()]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
