"""Natural-reading text: Faker pools built once per kind, picked from with the call's random stream."""

from __future__ import annotations

import hashlib
import random
import threading
from typing import Any, Callable


_POOL_SIZE = 200
_faker = None
_faker_lock = threading.Lock()
_pools: dict[str, tuple[str, ...]] = {}

_POOL_MAKERS: dict[str, Callable[[Any], str]] = {
    "city": lambda f: f.city(),
    "country": lambda f: f.country(),
    "country_code": lambda f: f.country_code(),
    "state": lambda f: f.state(),
    "name": lambda f: f.name(),
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "user_name": lambda f: f.user_name(),
    "email": lambda f: f.email(),
    "phone": lambda f: f.phone_number(),
    "street": lambda f: f.street_address(),
    "address": lambda f: f.address().replace("\n", ", "),
    "postcode": lambda f: f.postcode(),
    "company": lambda f: f.company(),
    "url": lambda f: f.url(),
    "domain": lambda f: f.domain_name(),
    "title": lambda f: f.sentence(nb_words=4).rstrip("."),
    "sentence": lambda f: f.sentence(nb_words=8),
    "currency": lambda f: f.currency_code(),
    "language": lambda f: f.language_name(),
    "language_code": lambda f: f.language_code(),
    "color": lambda f: f.color_name(),
    "timezone": lambda f: f.timezone(),
    "job": lambda f: f.job(),
    "file_name": lambda f: f.file_name(),
    "file_path": lambda f: f.file_path(depth=2),
    "word": lambda f: f.word(),
    "query": lambda f: " ".join(f.words(nb=3)),
}


def _pool(kind: str) -> tuple[str, ...]:
    """Values of one kind, built once by Faker seeded from the kind's name.

    Building is deterministic and order-independent (each pool has its own
    seed), and picking from a pool costs one ``randrange`` instead of a Faker
    formatter call (tens of microseconds each).
    """
    pool = _pools.get(kind)
    if pool is None:
        global _faker
        with _faker_lock:
            pool = _pools.get(kind)
            if pool is None:
                if _faker is None:
                    from faker import Faker

                    _faker = Faker("en_US")
                seed = int.from_bytes(hashlib.blake2b(kind.encode(), digest_size=8).digest(), "big")
                _faker.seed_instance(seed)
                maker = _POOL_MAKERS[kind]
                pool = tuple(maker(_faker) for _ in range(_POOL_SIZE))
                _pools[kind] = pool
    return pool


def _pick(rng: random.Random, kind: str) -> str:
    pool = _pool(kind)
    return pool[rng.randrange(len(pool))]

