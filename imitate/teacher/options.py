"""How a stage reaches its teacher: the options collect, questions and eval share (their Configs inherit
them), and what the teacher session takes."""
from __future__ import annotations

from dataclasses import dataclass

from imitate.config import opt
from imitate.errors import UserError
from imitate.teacher.client import Teacher


@dataclass
class TeacherOptions:
    teacher_url: str | None = opt(None, "OpenAI-compatible base URL (e.g. http://host:8000/v1); "
                                  "unset: start the embedded teacher on loopback")
    teacher_model: str | None = opt(None, "model name to ask at --teacher-url")
    concurrency: int = opt(8, "requests in flight at once")
    timeout: float | None = opt(None, "seconds before one request times out (then it is retried); "
                                "unset: 120 for a remote teacher, 900 for the embedded one on CPU")
    max_attempts: int = opt(6, "attempts per request, the first included")

    def __post_init__(self):
        for name in ("concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.timeout is not None and self.timeout <= 0:
            raise UserError("--timeout must be positive")
        if self.teacher_url and not self.teacher_model:
            raise UserError("--teacher-url needs --teacher-model (the model name to ask)")

    def remote(self) -> Teacher | None:
        """The teacher at --teacher-url, or None for the embedded one."""
        return Teacher(model=self.teacher_model, base_url=self.teacher_url) if self.teacher_url else None
