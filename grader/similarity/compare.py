"""Which pairs of submissions share more of one function than independent work explains.

Evidence is a fingerprint two submissions share that is not explained otherwise: fingerprints
of the stub, the course's given code and the reference solution are dropped, and so are those
that many submissions share (the textbook answer everyone finds). A pair is flagged for a
function only when enough such fingerprints remain (a minimum mass, so a three-line function
cannot be flagged for being written the one natural way) and they make up most of the smaller
of the two functions.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from pydantic import BaseModel, Field

from grader.similarity.fingerprint import fingerprints, lines_of
from grader.similarity.normalize import FunctionCode


class Settings(BaseModel):
    k: int = Field(default=12, description="tokens per k-gram")
    w: int = Field(default=6, description="winnowing window (k-grams)")
    min_shared: int = Field(default=10, description="fingerprints a flagged pair must share after discounting")
    min_score: float = Field(default=0.6, description="shared fingerprints / those of the smaller function")
    common_fraction: float = Field(default=0.1, description="a fingerprint in more than this share of submissions is common")
    common_min: int = Field(default=3, description="... and in more than this many submissions")


class Match(BaseModel):
    """One flagged pair for one function, with what to show side by side."""

    assignment: str
    function: str
    submission_a: str
    submission_b: str
    score: float
    shared: int
    source_a: str
    source_b: str
    first_line_a: int
    first_line_b: int
    lines_a: list[int]
    lines_b: list[int]


@dataclass
class Printed:
    submission: str
    code: FunctionCode
    prints: dict[int, list[int]]


def compare_function(assignment: str, function: str, codes: dict[str, FunctionCode], ignored: set[int],
                     settings: Settings) -> list[Match]:
    printed = [Printed(sub, code, fingerprints(code.tokens, settings.k, settings.w)) for sub, code in sorted(codes.items())]
    holders: dict[int, list[int]] = defaultdict(list)
    for index, entry in enumerate(printed):
        for value in entry.prints:
            if value not in ignored:
                holders[value].append(index)
    common = max(settings.common_min, settings.common_fraction * len(printed))
    rare = {value: who for value, who in holders.items() if len(who) <= common}
    size = [sum(1 for value in entry.prints if value in rare) for entry in printed]
    shared: dict[tuple[int, int], list[int]] = defaultdict(list)
    for value, who in rare.items():
        for pair in itertools.combinations(who, 2):
            shared[pair].append(value)
    matches = []
    for (a, b), values in shared.items():
        if len(values) < settings.min_shared:
            continue
        score = len(values) / max(1, min(size[a], size[b]))
        if score < settings.min_score:
            continue
        left, right = printed[a], printed[b]
        matches.append(Match(
            assignment=assignment, function=function, submission_a=left.submission, submission_b=right.submission,
            score=round(min(score, 1.0), 3), shared=len(values), source_a=left.code.source, source_b=right.code.source,
            first_line_a=left.code.first_line, first_line_b=right.code.first_line,
            lines_a=sorted(lines_of(left.code.tokens, [p for v in values for p in left.prints[v]], settings.k)),
            lines_b=sorted(lines_of(right.code.tokens, [p for v in values for p in right.prints[v]], settings.k)),
        ))
    return sorted(matches, key=lambda m: (-m.score, m.submission_a, m.submission_b))


def clusters(matches: list[Match]) -> list[list[str]]:
    """Groups of submissions linked by flagged pairs (any function), largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for match in matches:
        parent[root(match.submission_a)] = root(match.submission_b)
    groups: dict[str, list[str]] = defaultdict(list)
    for member in list(parent):
        groups[root(member)].append(member)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))
