"""The teacher client: openai.AsyncOpenAI against any OpenAI-compatible endpoint.

Our own retry loop replaces the SDK's (max_retries=0, so retries never multiply):
- retried: 429 (except insufficient_quota), 408, 409, 5xx, timeouts, dropped connections and
  malformed answers, with exponential backoff and full jitter, honouring Retry-After;
- failed at once: 400 and other 4xx for this request only; 401, 403, 404 and insufficient_quota
  abort the whole run (every other request would fail the same way), and so does a 400 about the
  images of a request with images (a teacher that reads text only refuses every one of them).
"""
from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
from dataclasses import dataclass, field

import openai

FATAL_STATUS = {401, 403, 404}
RETRY_STATUS = {408, 409, 429}
# What OpenAI, vLLM and others say when a model takes no images ("image_url is only supported by
# certain models", "... is not a multimodal model", "At most 0 image(s) may be provided").
IMAGE_REFUSAL = re.compile(r"image|multi-?modal|vision", re.I)


@dataclass(frozen=True)
class Teacher:
    """One teacher endpoint. Its `label` (`name`, default: model) is its identity: records carry it,
    request keys hash it, and clients are keyed by it, so the teachers of one run must have distinct
    labels (collect.teacher_list checks): the same model at two URLs needs a `name` each."""

    model: str
    base_url: str | None = None
    name: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    @property
    def label(self) -> str:
        return self.name or self.model


class AbortRun(Exception):
    """An error that every request would meet (bad key, unknown model, no quota)."""


class RequestFailed(Exception):
    """One request failed for good; `attempts` were made."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


@dataclass
class Answer:
    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    attempts: int
    logprobs: list | None = None   # choices[0].logprobs.content when asked for (and given)


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0     # seconds, doubled per attempt
    max_delay: float = 60.0     # seconds, cap of one wait
    timeout: float = 120.0      # seconds, one request


def retry_after(exc: Exception) -> float | None:
    """Seconds asked by Retry-After / retry-after-ms on an HTTP error, if any."""
    resp = getattr(exc, "response", None)
    if resp is None:
        return None
    ms = resp.headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    val = resp.headers.get("retry-after")
    if not val:
        return None
    try:
        return float(val)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(val) if val else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def classify(exc: Exception) -> str:
    """'retry', 'fail' (this request) or 'abort' (the run)."""
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return "retry"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        if exc.code == "insufficient_quota" or body.get("type") == "insufficient_quota":
            return "abort"
        if exc.status_code in FATAL_STATUS:
            return "abort"
        if exc.status_code in RETRY_STATUS or exc.status_code >= 500:
            return "retry"
        return "fail"
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, TypeError)):
        return "retry"   # a malformed or torn body: the next attempt may come back whole
    return "fail"


def rejects_images(exc: Exception, messages: list[dict]) -> bool:
    """A 400 about images, to a request that carries some."""
    from imitate.data.images import has_images

    return (isinstance(exc, openai.APIStatusError) and exc.status_code == 400
            and bool(IMAGE_REFUSAL.search(str(exc))) and has_images(messages))


def describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    text = f"{type(exc).__name__}: {exc}"
    return f"HTTP {status} {text}" if status else text


@dataclass
class Client:
    teacher: Teacher
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: object = None     # callable(delay_s, error_text) for progress counters
    extra: dict = field(default_factory=dict)   # sent with every request, not part of its key (logprobs)

    def __post_init__(self):
        # The key stays in the environment; vLLM/SGLang/transformers serve accept any string.
        key = os.environ.get(self.teacher.api_key_env) or "EMPTY"
        self._api = openai.AsyncOpenAI(api_key=key, base_url=self.teacher.base_url,
                                       max_retries=0, timeout=self.policy.timeout)

    async def close(self):
        await self._api.close()

    async def _once(self, messages: list[dict], params: dict) -> Answer:
        resp = await self._api.chat.completions.create(model=self.teacher.model,
                                                       messages=messages, **params, **self.extra)
        if isinstance(resp, str) or not getattr(resp, "choices", None):
            raise ValueError("malformed answer: no choices")
        choice = resp.choices[0]
        content = choice.message.content if choice.message else None
        if not isinstance(content, str):
            raise ValueError("malformed answer: no message content")
        usage = resp.usage
        return Answer(content, choice.finish_reason,
                      getattr(usage, "prompt_tokens", 0) or 0,
                      getattr(usage, "completion_tokens", 0) or 0, 0,
                      getattr(getattr(choice, "logprobs", None), "content", None))

    async def chat(self, messages: list[dict], params: dict) -> Answer:
        """One chat completion with retries. Raises RequestFailed or AbortRun."""
        p = self.policy
        for attempt in range(1, p.max_attempts + 1):
            try:
                ans = await self._once(messages, params)
                ans.attempts = attempt
                return ans
            except Exception as exc:  # noqa: BLE001 - classified below, nothing swallowed
                kind = classify(exc)
                if kind == "abort":
                    raise AbortRun(describe(exc)) from None
                if kind == "fail" and rejects_images(exc, messages):
                    raise AbortRun(f"the teacher {self.teacher.model!r} refuses images ({describe(exc)}); "
                                   "ask a vision-language model (e.g. Qwen2-VL served by vLLM), or seeds "
                                   "without images") from None
                if kind == "fail" or attempt == p.max_attempts:
                    raise RequestFailed(describe(exc), attempt) from None
                delay = random.uniform(0, min(p.max_delay, p.base_delay * 2 ** (attempt - 1)))
                asked = retry_after(exc)
                if asked is not None:
                    delay = min(p.max_delay, asked) + random.uniform(0, 0.1 * p.base_delay)
                if self.on_retry:
                    self.on_retry(delay, describe(exc))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
