"""The generator source: a plausible reply when nothing is scripted.

Everything is seeded from the server seed and the normalized conversation,
so the same request always gets the same reply and different prompts differ.
What to say follows the request: tool calls when tools are offered and the
turn calls for one, a JSON document when a schema is asked for, audio when a
voice is, text from Faker otherwise. One Faker instance serves the process;
it is re-seeded (its own ``random.Random``) before each use, and generation
never awaits, so concurrent requests cannot interleave.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import time
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

import orjson
from faker import Faker

from mockserver import checks, tokens
from mockserver.ids import fresh_hex
from mockserver.chat import ChatRequest
from mockserver.reply import Reply, ToolCall, Usage
from mockserver.sources import audio

# Fields that do not change what the assistant says: the same conversation
# asked streamed or not reads the same.
VOLATILE = frozenset({"stream", "stream_options", "user", "thread_id"})
AUDIO_LIFETIME_S = 3600
REASONING_TTFT_FACTOR = 3.0

_faker = Faker("en_US")


def request_seed(server_seed: int | str, req: ChatRequest) -> int:
    """A 64-bit seed from the server seed and the normalized conversation."""
    normalized = {k: v for k, v in req.body.items() if k not in VOLATILE}
    normalized["messages"] = req.messages
    blob = orjson.dumps([str(server_seed), normalized], option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big")


@lru_cache(maxsize=4096)
def assistant_text(seed: int) -> str:
    """One to four sentences of English-looking text for ``seed``."""
    _faker.seed_instance(seed)
    count = 1 + seed % 4
    return " ".join(_faker.sentence(nb_words=6 + (seed >> 8) % 8) for _ in range(count))


def _acknowledge(req: ChatRequest) -> str:
    """A first sentence that shows a UI its attachments arrived."""
    images, clips = req.inputs.images, req.inputs.audio_clips
    things = []
    if images:
        things.append("the image" if images == 1 else f"the {images} images")
    if clips:
        things.append("the audio clip" if clips == 1 else f"the {clips} audio clips")
    return f"Thanks for {' and '.join(things)}. " if things else ""


def to_ssml(text: str) -> str:
    """Well-formed SSML: a <speak> root, one <s> per sentence, text escaped."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    return "<speak>" + "".join(f"<s>{escape(s)}</s>" for s in sentences) + "</speak>"


def _last_role(req: ChatRequest) -> str | None:
    for msg in reversed(req.messages):
        if isinstance(msg, dict) and msg.get("role") not in (None, "system"):
            return msg.get("role")
    return None


def _wants_tool_call(req: ChatRequest) -> bool:
    choice = req.tool_choice
    if not req.tools or choice == "none":
        return False
    if choice == "required" or isinstance(choice, dict):
        return True
    # "auto": call a tool on a user turn; answer in text after tool results,
    # so a client's agent loop ends.
    return _last_role(req) == "user"


def _last_user_text(req: ChatRequest) -> str:
    for msg in reversed(req.messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _pick_tools(req: ChatRequest, rng: random.Random) -> list[str]:
    if isinstance(req.tool_choice, dict):
        return [req.tool_choice["name"]]
    names = list(req.tools)
    words = set(re.findall(r"[a-z]+", _last_user_text(req).lower()))

    def relevance(name: str) -> int:
        return len(words & set(re.findall(r"[a-z]+", name.lower().replace("_", " "))))

    ranked = sorted(names, key=lambda n: (-relevance(n), names.index(n)))
    if not req.parallel_tool_calls or len(names) == 1:
        best = [n for n in ranked if relevance(n) == relevance(ranked[0])]
        return [rng.choice(best)]
    count = 1 + rng.randrange(min(3, len(names)))
    return ranked[:1] + rng.sample(ranked[1:], count - 1)


def _tool_calls(req: ChatRequest, seed: int, rng: random.Random) -> list[ToolCall]:
    calls = []
    for i, name in enumerate(_pick_tools(req, rng)):
        where = f"tools[{list(req.tools).index(name)}].function.parameters"
        arguments = checks.instance(req.tools[name], seed=f"{seed}:{name}:{i}", param=where)
        calls.append(ToolCall("call_" + _hex(rng, 24), name, orjson.dumps(arguments).decode()))
    return calls


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _audio(transcript: str, voice: str, rng: random.Random) -> tuple[dict[str, Any], float]:
    """The message's audio object, and how long it plays."""
    wav = audio.synthesize(transcript, voice)
    return {
        "id": "audio_" + _hex(rng, 24),
        "expires_at": int(time.time()) + AUDIO_LIFETIME_S,
        "data": base64.b64encode(wav).decode(),
        "transcript": transcript,
    }, audio.duration_of_wav(wav)


def reply_for(req: ChatRequest, server_seed: int) -> Reply:
    seed = request_seed(server_seed, req)
    prompt = tokens.prompt_tokens(req.messages)
    usage = Usage(prompt, 0)
    if req.inputs.audio_clips:
        heard = audio.audio_tokens(req.inputs.audio_seconds)
        usage.prompt_tokens += heard
        usage.prompt_details["audio_tokens"] = heard
    reply = Reply(
        id="chatcmpl-" + fresh_hex(24),
        created=int(time.time()),
        model=req.model,
        content=None,
        finish_reason="stop",
        usage=usage,
    )
    if _wants_tool_call(req):
        reply.tool_calls = _tool_calls(req, seed, random.Random(seed))
        reply.finish_reason = "tool_calls"
        usage.completion_tokens = sum(tokens.count(c.name) + tokens.count(c.arguments) for c in reply.tool_calls)
    else:
        if req.response_schema is not None:
            text = orjson.dumps(checks.instance(req.response_schema, seed=seed,
                                                param="response_format.json_schema.schema")).decode()
        else:
            text = _acknowledge(req) + assistant_text(seed)
        if req.token_limit is not None and tokens.count(text) > req.token_limit:
            # As the real API does, even a JSON document is cut: the client sees "length".
            text, reply.finish_reason = tokens.truncate(text, req.token_limit), "length"
        usage.completion_tokens = tokens.count(text)
        if req.voice is not None:
            transcript = to_ssml(text) if req.ssml else text
            reply.audio, seconds = _audio(transcript, req.voice, random.Random(seed))
            spoken = audio.audio_tokens(seconds)
            usage.completion_tokens += spoken
            usage.completion_details["audio_tokens"] = spoken
        else:
            reply.content = to_ssml(text) if req.ssml and req.response_schema is None else text
    if req.reasoning and req.usage_details:
        # Hidden reasoning is billed as completion tokens, as the real API does;
        # only where the contract can say so in completion_tokens_details.
        thought = 16 * (1 + seed % 8)
        usage.completion_tokens += thought
        usage.completion_details["reasoning_tokens"] = thought
    return reply
