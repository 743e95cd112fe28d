"""Handle-time histograms: percentiles that add up across days, queues and agents.

A percentile of a sum of rollup rows cannot come from per-row percentiles, so each row
keeps a count per bin and a percentile is read from the summed bins. It is exact to the
bin: 30 s under 10 minutes, 1 minute under 30 minutes, 5 minutes under an hour, 10 minutes
under 2 hours, 30 minutes under 4 hours, an hour under 8 hours; past 8 hours the
longest item seen caps it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def _edges() -> list[int]:
    edges: list[int] = []
    for step, upto in ((30, 600), (60, 1800), (300, 3600), (600, 7200), (1800, 14400), (3600, 28800)):
        start = edges[-1] if edges else 0
        edges.extend(range(start + step, upto + 1, step))
    return edges


# Upper edges in seconds. Bin 0 is [0, 30 s); bin i is [BIN_EDGES[i-1], BIN_EDGES[i]); the
# last bin is [8 h, ∞). The same bins as PostgreSQL's width_bucket(seconds, BIN_EDGES).
BIN_EDGES: list[int] = _edges()
BIN_COUNT = len(BIN_EDGES) + 1


def bin_index(seconds: float) -> int:
    """The bin of one handle time (what width_bucket gives in SQL)."""
    low, high = 0, len(BIN_EDGES)
    while low < high:
        middle = (low + high) // 2
        if seconds < BIN_EDGES[middle]:
            high = middle
        else:
            low = middle + 1
    return low


def empty() -> list[int]:
    return [0] * BIN_COUNT


def add_into(total: list[int], histogram: Sequence[int] | None) -> None:
    """Add one row's bins into a running total (rows may be missing: None)."""
    if histogram:
        for index, n in enumerate(histogram):
            total[index] += n


def percentile(histogram: Sequence[int], q: float, *, longest: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) by nearest rank, as the upper edge of the bin holding it
    (never above the longest item seen); None when the histogram is empty."""
    count = sum(histogram)
    if not count:
        return None
    rank = max(1, math.ceil(q * count))
    seen = 0
    for index, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            upper = BIN_EDGES[index] if index < len(BIN_EDGES) else longest
            return float(min(upper, longest))
    return float(longest)  # not reached: the ranks add up to `count`


def merged(histograms: Iterable[Sequence[int] | None]) -> list[int]:
    total = empty()
    for histogram in histograms:
        add_into(total, histogram)
    return total
