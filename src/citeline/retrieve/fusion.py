"""Weighted reciprocal-rank fusion of ranked lists."""

from __future__ import annotations

from collections.abc import Sequence


def rrf(ranked: Sequence[tuple[float, Sequence[int]]], k: int = 60) -> dict[int, float]:
    """``ranked`` is a list of (weight, ids best-first); returns id → fused score."""
    fused: dict[int, float] = {}
    for weight, ids in ranked:
        if weight <= 0:
            continue
        for rank, item in enumerate(ids):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank + 1)
    return fused
