"""An instant-answer chat-completions server (raw ASGI under uvicorn), for client benchmarks.

Run: python benchmarks/instant_server.py PORT
"""
import json
import sys

import uvicorn

BODY = json.dumps({
    "id": "bench", "object": "chat.completion", "created": 0, "model": "instant",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Step 1: think. Step 2: answer. The answer is 42."}}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 16, "total_tokens": 46}}).encode()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    status, body = (200, b'{"status":"ok"}') if scope["path"] == "/health" else (200, BODY)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
