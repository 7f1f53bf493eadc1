"""The generator source: plausible assistant text when nothing is scripted.

Text comes from Faker, seeded per request from the server seed and the
normalized request, so the same request always reads the same and different
prompts read differently. One Faker instance serves the process; it is
re-seeded (its own ``random.Random``, never the global one) before each use,
and generation never awaits, so concurrent requests cannot interleave.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache
from typing import Any

import orjson
from faker import Faker

# Fields that do not change what the assistant says: the same conversation
# asked streamed or not reads the same.
VOLATILE = frozenset({"stream", "stream_options", "user"})

_faker = Faker("en_US")


def request_seed(server_seed: int | str, body: Any, *, extra: Any = None) -> int:
    """A 64-bit seed from the server seed and the normalized request."""
    normalized = {k: v for k, v in body.items() if k not in VOLATILE} if isinstance(body, dict) else body
    blob = orjson.dumps([str(server_seed), normalized, extra], option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big")


def rng(seed: int) -> random.Random:
    return random.Random(seed)


@lru_cache(maxsize=4096)
def assistant_text(seed: int) -> str:
    """One to four sentences of English-looking text for ``seed``."""
    _faker.seed_instance(seed)
    count = 1 + seed % 4
    return " ".join(_faker.sentence(nb_words=6 + (seed >> 8) % 8) for _ in range(count))


def completion_id(seed: int, prefix: str = "chatcmpl-") -> str:
    return prefix + hashlib.blake2b(seed.to_bytes(8, "big"), digest_size=12).hexdigest()
