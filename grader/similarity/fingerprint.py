"""Winnowing (Schleimer, Wilkerson, Aiken 2003, as in MOSS): a robust sample of k-gram hashes.

Every run of at least w + k - 1 equal tokens shared by two streams yields at least one shared
fingerprint, whatever surrounds it, and fingerprints keep where they came from so matched
regions can be shown.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from grader.similarity.normalize import Token


def _token_id(text: str) -> int:
    return zlib.crc32(text.encode())  # stable across runs and processes, unlike hash(str)


def kgram_hashes(tokens: Sequence[Token], k: int) -> list[int]:
    ids = [_token_id(t.text) for t in tokens]
    # hash() of a tuple of ints is deterministic (no string-hash randomisation involved).
    return [hash(tuple(ids[i:i + k])) for i in range(len(ids) - k + 1)]


def winnow(hashes: Sequence[int], w: int) -> dict[int, list[int]]:
    """Fingerprints: the minimum hash of every window of w k-grams (rightmost on ties) -> positions."""
    chosen: dict[int, list[int]] = {}
    if not hashes:
        return chosen
    if len(hashes) <= w:
        position = min(range(len(hashes)), key=lambda i: (hashes[i], -i))
        return {hashes[position]: [position]}
    last = -1
    for start in range(len(hashes) - w + 1):
        window = range(start, start + w)
        position = min(window, key=lambda i: (hashes[i], -i))
        if position != last:
            chosen.setdefault(hashes[position], []).append(position)
            last = position
    return chosen


def fingerprints(tokens: Sequence[Token], k: int, w: int) -> dict[int, list[int]]:
    return winnow(kgram_hashes(tokens, k), w)


def lines_of(tokens: Sequence[Token], positions: Sequence[int], k: int) -> set[int]:
    """Source lines covered by the k-grams starting at `positions`."""
    lines: set[int] = set()
    for position in positions:
        lines.update(t.line for t in tokens[position:position + k])
    return lines
