"""Progress for long work: a tqdm bar on a terminal, a plain line every few seconds otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    """Counts requests done/total, generated tokens/s, retries and failures, with an ETA."""

    def __init__(self, total: int, desc: str, every_s: float = 10.0, stream=None):
        self.total, self.desc, self.every_s = total, desc, every_s
        self.stream = stream or sys.stderr
        self.done = self.tokens = self.retries = self.failures = 0
        self.t0 = self._last = time.time()
        self._bar = None
        if self.stream.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit="req", file=self.stream, dynamic_ncols=True)

    def _postfix(self) -> dict:
        el = max(time.time() - self.t0, 1e-9)
        return {"tok/s": f"{self.tokens / el:.1f}", "retries": self.retries, "failed": self.failures}

    def update(self, done: int = 0, tokens: int = 0, retries: int = 0, failures: int = 0) -> None:
        self.done += done
        self.tokens += tokens
        self.retries += retries
        self.failures += failures
        if self._bar is not None:
            self._bar.update(done)
            self._bar.set_postfix(self._postfix(), refresh=False)
        elif time.time() - self._last >= self.every_s or (done and self.done == self.total):
            self._last = time.time()
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        el = max(time.time() - self.t0, 1e-9)
        rate = self.done / el
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        p = self._postfix()
        return (f"{self.desc}: {self.done}/{self.total} requests, {p['tok/s']} tok/s, "
                f"{self.retries} retries, {self.failures} failed, ETA {eta:.0f}s")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
