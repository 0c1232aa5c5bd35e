"""Reproducible per-interview randomisation (questionnaire-format §8).

Every random decision of an interview (an option order, a block order, a ``random_pick``) draws
from its own generator, seeded from the interview seed and the *answer key* of the node. So a
decision does not depend on how many other random decisions came before it (back navigation,
changed routes and new questionnaire versions leave unrelated orders alone), and it is the same in
every process: the seed is derived with SHA-256, never with ``hash()``, which Python salts per
process.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def derive_seed(seed: int, key: str) -> int:
    """A 64-bit seed for the random decisions of ``key`` in the interview seeded with ``seed``."""
    digest = hashlib.sha256(f"cati/1:{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def rng_for(seed: int, key: str) -> random.Random:
    """The generator for the random decisions of ``key`` (fresh, so the draw is repeatable)."""
    return random.Random(derive_seed(seed, key))


def arrange(items: Sequence[T], fixed: Sequence[bool], mode: str | None, rng: random.Random) -> list[T]:
    """``items`` in shown order for ``mode`` (``shuffle``, ``rotate``, ``reverse`` or None).

    Items flagged ``fixed`` (anchors such as "none of these" or "other") keep their positions; the
    others are rearranged among the remaining positions. ``reverse`` flips the order for a random
    half of the interviews (the usual way to balance order effects of an ordered scale).
    """
    if mode is None:
        return list(items)
    free_positions = [i for i, is_fixed in enumerate(fixed) if not is_fixed]
    free = [items[i] for i in free_positions]
    if mode == "shuffle":
        rng.shuffle(free)
    elif mode == "rotate":
        if free:
            offset = rng.randrange(len(free))
            free = free[offset:] + free[:offset]
    elif mode == "reverse":
        if rng.random() < 0.5:
            free.reverse()
    else:
        raise ValueError(f"unknown randomisation {mode!r}")
    shown = list(items)
    for position, item in zip(free_positions, free, strict=True):
        shown[position] = item
    return shown
