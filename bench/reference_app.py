"""A bare reference server: the floor the mock is measured against.

It runs on the mock's own stack (uvicorn + uvloop + httptools, one worker
unless ``--workers N``) and
does the least a chat-completions server can do: read the body, decide whether
to stream, send pre-encoded bytes. The mock/reference ratio therefore isolates
the mock's own work (routing, validation both ways, content generation) from
the cost of the HTTP stack, which neither can avoid.

    python bench/reference_app.py --port 8081 [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

CHUNKS = 20  # content deltas per stream, about what a short answer takes

COMPLETION = json.dumps({
    "id": "chatcmpl-reference",
    "object": "chat.completion",
    "created": 1680000000,
    "model": "ark",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the reference server."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}, separators=(",", ":")).encode()


def _event(delta: dict, finish: str | None = None) -> bytes:
    chunk = {"id": "chatcmpl-reference", "object": "chat.completion.chunk", "created": 1680000000,
             "model": "ark", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


# role delta, CHUNKS content deltas, the finishing chunk, [DONE]: one write each, as the mock does
SSE_EVENTS = ([_event({"role": "assistant", "content": ""})]
              + [_event({"content": f"word{n} "}) for n in range(CHUNKS)]
              + [_event({}, "stop"), b"data: [DONE]\n\n"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


PACING = {"ttft_s": 0.0, "gap_s": 0.0}  # set by --ttft / --tps: the same schedule the mock keeps


async def _events():
    ttft, gap = PACING["ttft_s"], PACING["gap_s"]
    if not ttft and not gap:
        for item in SSE_EVENTS:
            yield item
        return
    # as the mock: the role delta at once, the first content chunk after ttft, then one per gap,
    # on an absolute clock (a late event does not delay the next); [DONE] right after the last chunk
    loop = asyncio.get_running_loop()
    start = loop.time()
    last = len(SSE_EVENTS) - 1
    for n, item in enumerate(SSE_EVENTS):
        if 0 < n < last:
            delay = start + ttft + (n - 1) * gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield item


def _completions(stream_default: bool):
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            stream = bool(json.loads(body).get("stream", stream_default))
        except (ValueError, AttributeError):
            return Response(b'{"error":{"message":"invalid JSON","type":"invalid_request_error"}}',
                            status_code=400, media_type="application/json")
        if stream:
            return StreamingResponse(_events(), media_type="text/event-stream", headers=SSE_HEADERS)
        return Response(COMPLETION, media_type="application/json")
    return endpoint


if os.environ.get("REFERENCE_PACING"):
    PACING["ttft_s"], PACING["gap_s"] = (float(v) for v in os.environ["REFERENCE_PACING"].split(","))

app = Starlette(routes=[
    # the two contracts' paths, with their stream defaults (ARK: false, multimedia: true)
    Route("/v1/chat/completions", _completions(stream_default=False), methods=["POST"]),
    Route("/chat/completions", _completions(stream_default=True), methods=["POST"]),
])


def main() -> None:
    parser = argparse.ArgumentParser(description="bare reference server for bench/run.py")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default: 1)")
    parser.add_argument("--tps", type=float, default=0.0, help="pace streams: content chunks per second")
    parser.add_argument("--ttft", type=float, default=0.0, help="pace streams: ms to the first content chunk")
    args = parser.parse_args()
    # workers import this module afresh: the pacing travels in the environment
    PACING["ttft_s"], PACING["gap_s"] = args.ttft / 1000.0, (1.0 / args.tps if args.tps > 0 else 0.0)
    os.environ["REFERENCE_PACING"] = f"{PACING['ttft_s']},{PACING['gap_s']}"
    # several workers need the app as an import string; one worker runs it in this process
    target = app if args.workers == 1 else "reference_app:app"
    uvicorn.run(target, host="127.0.0.1", port=args.port, workers=args.workers, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="off", app_dir=str(Path(__file__).resolve().parent))


if __name__ == "__main__":
    main()
