"""Coverage-aware lists: the lower slots of every customer's top k filled under a per-item exposure cap.

Why: ranked by score alone, every customer sees the same few hundred popular titles (MovieLens-small: 3 % of
the catalogue over all 610 customers' top-10). Dividing scores by popularity^beta or subtracting a popularity
term hardly moves that (at most 5-6 %) before precision falls below popularity's, and capping exposure over
the whole list costs the head slots, where most hits are. So the first `head` slots stay the customer's own
best items, and the remaining `k - head` "tail" slots are filled under a cap on how many customers one item
may fill a tail slot for.

Tail assignment is customer-proposing deferred acceptance (Gale-Shapley): every customer proposes their best
candidates not yet rejected, each item keeps the highest-scoring proposals up to its cap and rejects the rest,
until every tail is full or the candidates run out. The result is stable: no customer and item both prefer
each other to what they got. Each round is a handful of array operations over all customers at once (no loop
over customers). Customers whose candidates run out get their best remaining candidates regardless of the
cap, so every list still has k items.

The cap only means something over a batch (all customers scored together, e.g. the daily lists); a
one-customer call has nobody to share with and returns the uncapped ranking.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

CANDIDATE_BUDGET = 8_000_000  # (customer, candidate) pairs held at once: ~64 MB of int32 + float32
MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class ExposureCap:
    """`tail` of the k slots are capped; an item fills at most `fair_share` times its even share of them.

    Even share = customers x tail slots / catalogue size; the cap is ceil(fair_share x even share), at least 1.
    Relative, so a setting chosen on a few hundred validation customers means the same on a million.
    """

    tail: int
    fair_share: float = 1.0

    def cap(self, n_customers: int, n_items: int) -> int:
        return max(1, math.ceil(self.fair_share * n_customers * self.tail / max(n_items, 1)))

    def as_dict(self) -> dict:
        return asdict(self)


def n_candidates(n_customers: int, n_items: int, k: int) -> int:
    """Candidates kept per customer: as many as the memory budget allows, at least enough for 3 lists."""
    return int(min(n_items, max(3 * k, min(MAX_CANDIDATES, CANDIDATE_BUDGET // max(n_customers, 1)))))


def capped_lists(
    candidates: np.ndarray, values: np.ndarray, k: int, setting: ExposureCap | None, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """(items, values) (n, k) from per-customer candidates (n, M), best first, -1 / -inf = none.

    setting None (or fewer than 2 customers) = the first k candidates.
    """
    n = candidates.shape[0]
    k = min(k, candidates.shape[1])
    if setting is None or n < 2 or setting.tail <= 0:
        return candidates[:, :k], values[:, :k]
    head = max(k - setting.tail, 0)
    tail = k - head
    cap = setting.cap(n, n_items)
    held = _deferred_acceptance(candidates[:, head:], values[:, head:], tail, cap)  # (n, M - head) bool
    held = _fill_short_lists(held, np.isfinite(values[:, head:]) & (candidates[:, head:] >= 0), tail)
    # held positions in candidate order = best first; each row has exactly min(tail, available) of them
    order = np.argsort(~held, axis=1, kind="stable")[:, :tail]
    picked = np.take_along_axis(held, order, axis=1)
    tail_items = np.where(picked, np.take_along_axis(candidates[:, head:], order, axis=1), -1)
    tail_values = np.where(picked, np.take_along_axis(values[:, head:], order, axis=1), -np.inf)
    return (
        np.concatenate([candidates[:, :head], tail_items], axis=1),
        np.concatenate([values[:, :head], tail_values], axis=1).astype(values.dtype),
    )


def _deferred_acceptance(candidates: np.ndarray, values: np.ndarray, slots: int, cap: int) -> np.ndarray:
    """Boolean (n, M): which candidate positions each customer holds after customer-proposing deferred
    acceptance with `slots` per customer and at most `cap` customers per item (higher score first, then the
    lower customer position). Each round re-ranks only the items that received proposals, so late rounds
    (few customers still rejected) are cheap; every round moves each proposer's pointer on, so there are at
    most M rounds."""
    n, m = candidates.shape
    valid = np.isfinite(values) & (candidates >= 0)
    pointer = np.zeros(n, np.int64)
    held_row, held_pos = np.empty(0, np.int64), np.empty(0, np.int64)
    touched = np.zeros(max(int(candidates.max(initial=0)) + 1, 1), bool)
    while True:
        need = np.minimum(slots - np.bincount(held_row, minlength=n), m - pointer)
        need[need < 0] = 0
        if not need.any():
            break
        # each customer's next `need` candidate positions
        row = np.repeat(np.arange(n), need)
        pos = pointer[row] + np.arange(row.size) - np.repeat(np.cumsum(need) - need, need)
        pointer += need
        keep = valid[row, pos]
        row, pos = row[keep], pos[keep]
        if not row.size:
            continue
        # the proposals compete with the current holders of the same items only
        touched[:] = False
        touched[candidates[row, pos]] = True
        contested = touched[candidates[held_row, held_pos]]
        row = np.concatenate([held_row[contested], row])
        pos = np.concatenate([held_pos[contested], pos])
        item = candidates[row, pos]
        order = np.lexsort((row, -values[row, pos], item))  # per item, best score first
        sorted_item = item[order]
        rank = np.arange(order.size) - np.searchsorted(sorted_item, sorted_item, side="left")
        accepted = order[rank < cap]
        held_row = np.concatenate([held_row[~contested], row[accepted]])
        held_pos = np.concatenate([held_pos[~contested], pos[accepted]])
    held = np.zeros((n, m), bool)
    held[held_row, held_pos] = True
    return held


def _fill_short_lists(held: np.ndarray, valid: np.ndarray, slots: int) -> np.ndarray:
    """Customers holding fewer than `slots` items take their best remaining valid candidates, cap or not."""
    missing = slots - held.sum(axis=1)
    if not (missing > 0).any():
        return held
    free = valid & ~held
    return held | (free & (np.cumsum(free, axis=1) <= missing[:, None]))
