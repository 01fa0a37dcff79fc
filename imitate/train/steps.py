"""Training progress: one line every few seconds (a tqdm bar on a terminal) with the step, the loss and
tokens/s, in place of the trainer's own bar and its per-log dicts."""
from __future__ import annotations

import sys
import time

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback


class Steps(TrainerCallback):
    def __init__(self, desc: str = "finetune", every_s: float = 10.0, stream=None):
        self.desc, self.every_s, self.stream = desc, every_s, stream or sys.stderr
        self.loss = None
        self._bar = None

    def on_train_begin(self, args, state, control, **kw):
        self.t0 = self._last = time.time()
        self.tokens0 = state.num_input_tokens_seen or 0
        if self.stream.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=state.max_steps, desc=self.desc, unit="step", file=self.stream, dynamic_ncols=True)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_step_end(self, args, state, control, **kw):
        if not state.is_world_process_zero:
            return
        el = max(time.time() - self.t0, 1e-9)
        rate = ((state.num_input_tokens_seen or 0) - self.tokens0) / el
        loss = "-" if self.loss is None else f"{self.loss:.3f}"
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({"loss": loss, "tok/s": f"{rate:.0f}"}, refresh=False)
        elif time.time() - self._last >= self.every_s or state.global_step == state.max_steps:
            self._last = time.time()
            eta = (state.max_steps - state.global_step) * el / max(state.global_step, 1)
            self.stream.write(f"{self.desc}: step {state.global_step}/{state.max_steps}, loss {loss}, "
                              f"{rate:.0f} tokens/s, ETA {eta:.0f}s\n")
            self.stream.flush()

    def on_train_end(self, args, state, control, **kw):
        if self._bar is not None:
            self._bar.close()


def quiet(trainer) -> None:
    """Swap the trainer's bar and printed log dicts for Steps."""
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    trainer.add_callback(Steps())
