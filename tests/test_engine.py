"""The embedded teacher's engine (imitate/teacher/engine.py) on a tiny random-init LLaMA (fast)."""
from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

import pytest

pytest.importorskip("torch")
openai = pytest.importorskip("openai")

from imitate.teacher import engine as engine_mod  # noqa: E402
from imitate.teacher.server import free_port  # noqa: E402

NAME = "tiny"


@pytest.fixture(scope="module")
def server(tiny):
    """The engine with the tiny random LLaMA (conftest) on a loopback port."""
    eng = engine_mod.Engine(str(tiny), "cpu", max_batch=8)
    httpd = engine_mod.Server(("127.0.0.1", free_port()), engine_mod.handler(eng, NAME))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    threading.Thread(target=eng.run_batches, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", eng
    httpd.shutdown()


def ask_all(url: str, requests: list[dict]) -> list:
    async def go():
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        try:
            return await asyncio.gather(*[client.chat.completions.create(model=NAME, **r) for r in requests],
                                        return_exceptions=True)
        finally:
            await client.close()
    return asyncio.run(go())


def chat(text: str, **params) -> dict:
    return {"messages": [{"role": "user", "content": text}], **params}


def test_concurrent_requests_get_their_own_limits(server):
    url, _ = server
    answers = ask_all(url, [chat(f"question {i}", max_tokens=3 + i, temperature=0) for i in range(4)])
    for i, a in enumerate(answers):
        assert a.model == NAME and a.object == "chat.completion"
        tokens = a.usage.completion_tokens
        assert a.usage.prompt_tokens > 0 and a.usage.total_tokens == a.usage.prompt_tokens + tokens
        # A random model seldom says its end token: each stops at its own max_tokens, or earlier with "stop".
        assert (a.choices[0].finish_reason, tokens) == ("length", 3 + i) or \
            (a.choices[0].finish_reason == "stop" and tokens <= 3 + i)


def test_requests_queued_together_run_as_one_batch(server, capfd):
    _, eng = server
    jobs = [engine_mod.Job([1, 2, 3 + i], max_tokens=2, temperature=0.0, top_p=1.0, seed=None) for i in range(4)]
    for job in jobs:
        eng.jobs.put(job)
    for job in jobs:
        assert job.done.wait(60) and len(job.tokens) <= 2
    assert "batch of 4" in capfd.readouterr().err


def test_seeded_sampling_repeats_and_greedy_is_deterministic(server):
    url, _ = server
    sampled = chat("tell me", max_tokens=12, temperature=1.0, seed=7)
    a, b, greedy, other = ask_all(url, [sampled, sampled, chat("tell me", max_tokens=12, temperature=0),
                                        {**sampled, "seed": 8}])
    assert a.choices[0].message.content == b.choices[0].message.content
    assert other.choices[0].message.content != a.choices[0].message.content   # 49k tokens: a clash is unlikely
    [again] = ask_all(url, [chat("tell me", max_tokens=12, temperature=0)])
    assert again.choices[0].message.content == greedy.choices[0].message.content


@pytest.mark.parametrize("params, message", [
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 10_000}, "max_tokens"),
    ({"max_tokens": 2040}, "context"),
    ({"temperature": -1}, "temperature"),
    ({"seed": "x"}, "seed"),
    ({"n": 2}, "n = 1"),
    ({"seed": 2 ** 64}, "seed"),
    ({"max_tokens": 2.5}, "integer"),
])
def test_bad_requests_get_400(server, params, message):
    url, _ = server
    [err] = ask_all(url, [chat("hi", **{"max_tokens": 4, **params})])
    assert isinstance(err, openai.BadRequestError) and message in str(err)


def test_health_models_and_bad_bodies(server):
    url, _ = server
    with urllib.request.urlopen(url + "/health") as r:
        assert json.loads(r.read()) == {"status": "ok"}
    with urllib.request.urlopen(url + "/v1/models") as r:
        assert json.loads(r.read())["data"][0]["id"] == NAME
    req = urllib.request.Request(url + "/v1/chat/completions", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400
    [err] = ask_all(url, [{"messages": []}])
    assert isinstance(err, openai.BadRequestError)


def test_a_prompt_that_fills_the_context_gets_400(server):
    url, _ = server
    [err] = ask_all(url, [chat("hi " * 2100)])   # no max_tokens: the default must not go to zero or below
    assert isinstance(err, openai.BadRequestError) and "no room" in str(err)


def test_a_null_max_completion_tokens_leaves_max_tokens(server):
    url, _ = server
    body = {**chat("hi", max_tokens=3, temperature=0), "max_completion_tokens": None}
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["usage"]["completion_tokens"] <= 3


def test_cpu_dtype_can_be_set_and_a_wrong_one_is_refused(monkeypatch):
    import torch

    from imitate.errors import UserError

    from imitate import device

    pick = device.fastest_cpu_dtype
    try:
        for name, want in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            monkeypatch.setenv("IMITATE_CPU_DTYPE", name)
            pick.cache_clear()
            assert pick() is want and device.placement("cpu") == ("cpu", want)
        monkeypatch.setenv("IMITATE_CPU_DTYPE", "fp16")
        pick.cache_clear()
        with pytest.raises(UserError, match="float32 or bfloat16, not 'fp16'"):
            pick()
    finally:
        monkeypatch.delenv("IMITATE_CPU_DTYPE")
        pick.cache_clear()
