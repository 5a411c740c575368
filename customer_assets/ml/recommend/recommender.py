"""`fit_recommender` and the fitted `Recommender`: model selection on a validation split, blending, top-k.

Fitting: hold out the latest interactions (globally, or per customer when too few customers return after
the global cutoff; a seeded random 10% without ts), fit every candidate
collaborative model on the rest, pick the one with the best validation ndcg@10, choose blend weights for
collaborative + content + popularity on the same validation customers, then refit the winner on everything.
The selection figures in `report` are therefore optimistic; compare models with `evaluate_on_holdout` on an
outer `time_split` for unbiased numbers.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from customer_assets.ml.recommend.content import ContentModel
from customer_assets.ml.recommend.evaluate import per_customer_metrics, split_by_time, summarise
from customer_assets.ml.recommend.exposure import ExposureCap, capped_lists, n_candidates
from customer_assets.ml.recommend.hybrid import BlendWeights, blend, normalised, weight_grid
from customer_assets.ml.recommend.implicit_model import ALS, make_model
from customer_assets.ml.recommend.interactions import IdIndex, interaction_matrix, validate_interactions
from customer_assets.ml.recommend.popularity import (
    group_popularity,
    groups_frame,
    item_popularity,
    normalised_popularity,
)
from customer_assets.ml.recommend.topk import mask_seen, row_max, rows_per_chunk, stored_in, top_k_rows

STRATEGIES = ("collaborative", "content", "hybrid", "popular")
# `fit_recommender(algorithm=POPULARITY)`: the plain baseline as a servable recommender (what serves when no
# model beats it on the holdout).
POPULARITY = "popularity"
PRIMARY_METRIC = "ndcg@10"


class Recommender:
    """Fitted recommender. Picklable; holds the interaction matrix to exclude seen items."""

    def __init__(
        self,
        customers: IdIndex,
        items: IdIndex,
        matrix: sp.csr_matrix,
        collaborative,
        content,
        weights: BlendWeights,
        new_product_weight: float,
        report: dict,
        model_matrix: sp.csr_matrix | None = None,
        blend_popularity: np.ndarray | None = None,
        exposure: ExposureCap | None = None,
    ):
        self.customers = customers
        self.items = items
        self.matrix = matrix
        self.collaborative = collaborative
        self.content = content
        self.weights = weights
        self.new_product_weight = new_product_weight
        self.report = report
        self.popularity = item_popularity(matrix)
        self.popularity_scores = normalised_popularity(self.popularity)
        self.new_items = np.flatnonzero(self.popularity == 0)
        # What the collaborative model reads (e.g. recency-decayed weights); None = `matrix`.
        self.model_matrix = model_matrix
        # Popularity signal inside the blend (e.g. recency-weighted); None = all-time popularity. The "popular"
        # strategy and the baseline always use all-time popularity.
        self.blend_popularity = blend_popularity
        # Exposure cap on the lower slots of the fitted blend's lists (exposure.py); None = rank by score only.
        self.exposure = exposure

    def _model_history(self, rows: np.ndarray, history: sp.csr_matrix) -> sp.csr_matrix:
        model_matrix = getattr(self, "model_matrix", None)  # absent on models pickled before it existed
        return history if model_matrix is None else model_matrix[rows]

    def _blend_popularity_scores(self, weights: BlendWeights) -> np.ndarray:
        trend = getattr(self, "blend_popularity", None)
        return self.popularity_scores if trend is None or weights.popularity == 0 else trend

    # -- scoring -------------------------------------------------------------------------------------------
    def available_strategies(self) -> list[str]:
        out = ["popular"]
        if self.collaborative is not None:
            out.append("collaborative")
        if self.content is not None:
            out.append("content")
        if self.collaborative is not None and self.content is not None:
            out.append("hybrid")
        return out

    def _weights_for(self, strategy: str | None) -> tuple[BlendWeights, float]:
        if strategy in (None, "hybrid"):
            return self.weights, self.new_product_weight
        fixed = {
            "collaborative": BlendWeights(1, 0, 0),
            "content": BlendWeights(0, 1, 0),
            "popular": BlendWeights(0, 0, 1),
        }
        if strategy not in fixed:
            raise ValueError(f"strategy must be one of {STRATEGIES} or None, got {strategy!r}")
        if strategy == "collaborative" and self.collaborative is None:
            raise ValueError("this recommender has no collaborative model")
        if strategy == "content" and self.content is None:
            raise ValueError("this recommender has no content model (fit with products=...)")
        return fixed[strategy], 0.0

    def _score_rows(self, rows: np.ndarray, weights: BlendWeights, new_product_weight: float):
        """(blended scores, has-collaborative-signal per row) for customer positions `rows`."""
        history = self.matrix[rows]
        collaborative = content = None
        signal = np.zeros(len(rows), bool)
        if self.collaborative is not None and weights.collaborative > 0:
            collaborative = self.collaborative.score(rows, self._model_history(rows, history))
            signal = row_max(collaborative) > 0
            collaborative = normalised(collaborative)
        if self.content is not None and (weights.content > 0 or (new_product_weight > 0 and self.new_items.size)):
            content = normalised(self.content.score(rows, history))
        scores = (
            blend(
                weights,
                collaborative,
                content,
                self._blend_popularity_scores(weights),
                self.new_items,
                new_product_weight,
            )
            if (collaborative is not None or content is not None)
            else np.broadcast_to(
                (weights.popularity + 1e-4) * self.popularity_scores, (len(rows), len(self.items))
            ).copy()
        )
        return scores, history, signal

    # -- public API ----------------------------------------------------------------------------------------
    def recommend(
        self,
        customer_ids,
        k: int = 10,
        exclude_seen: bool = True,
        groups=None,
        strategy: str | None = None,
        also_exclude: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """Top-k per customer: DataFrame customer_id, rank, product_id, score, strategy.

        Unknown customers get the popular list of their group (if `groups` maps them: DataFrame customer_id,
        group or a dict) else the global one. `strategy` forces one signal (for evaluation); None = the fitted
        blend. `also_exclude` (customer_id, product_id) pairs are never recommended either, e.g. purchases made
        after the model was fitted; they are removed before ranking, so lists stay k long and an exposure cap
        still applies to their last slots.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        ids = customer_ids if isinstance(customer_ids, pl.Series) else pl.Series(list(customer_ids))
        ids = ids.rename("customer_id").unique(maintain_order=True)
        rows = self.customers.lookup(ids)
        weights, new_product_weight = self._weights_for(strategy)
        k_eff = min(k, len(self.items))
        top = np.full((ids.len(), k_eff), -1, np.int64)
        values = np.zeros((ids.len(), k_eff), np.float32)
        labels = np.full(ids.len(), "popular", dtype=object)
        default_label = strategy or ("collaborative" if weights.content == 0 and weights.popularity == 0 else "hybrid")
        if self.collaborative is None and strategy is None:
            default_label = "content" if self.content is not None else "popular"

        extra = self._exclusion_matrix(ids, also_exclude)
        known = np.flatnonzero(rows >= 0)
        exposure = getattr(self, "exposure", None) if strategy is None and known.size > 1 else None
        # With an exposure cap, keep more candidates per customer; the cap is applied over the whole batch below.
        width = n_candidates(known.size, len(self.items), k_eff) if exposure is not None else k_eff
        candidates = np.full((known.size, width), -1, np.int32)  # item positions; 20k items fit easily
        candidate_values = np.full((known.size, width), -np.inf, np.float32)
        step = rows_per_chunk(len(self.items))
        for start in range(0, known.size, step):
            where = known[start : start + step]
            scores, history, signal = self._score_rows(rows[where], weights, new_product_weight)
            if exclude_seen:
                mask_seen(scores, history)
            if extra is not None:
                mask_seen(scores, extra[where])
            candidates[start : start + step], candidate_values[start : start + step] = top_k_rows(scores, width)
            if strategy is None:
                labels[where] = np.where(
                    signal | (self.collaborative is None),
                    default_label,
                    "content" if self.content is not None else "popular",
                )
            else:
                labels[where] = strategy
        if known.size:
            top[known], values[known] = capped_lists(candidates, candidate_values, k_eff, exposure, len(self.items))
        del candidates, candidate_values

        unknown = np.flatnonzero(rows < 0)
        if unknown.size:
            top[unknown], values[unknown] = self._cold_start(
                ids.gather(unknown), groups, k_eff, None if extra is None else extra[unknown]
            )

        keep = top >= 0
        position = np.repeat(np.arange(ids.len()), k_eff).reshape(top.shape)
        frame = pl.DataFrame(
            {
                "customer_id": ids.gather(pl.Series(position[keep])),
                "rank": np.tile(np.arange(1, k_eff + 1, dtype=np.int32), (ids.len(), 1))[keep],
                "product_id": self.items.take(top[keep]),
                "score": values[keep].astype(np.float64),
                "strategy": pl.Series(labels[position[keep]].astype(str), dtype=pl.String),
            }
        )
        return frame

    def _exclusion_matrix(self, ids: pl.Series, pairs: pl.DataFrame | None) -> sp.csr_matrix | None:
        """(len(ids), n_items) CSR marking the `pairs` to exclude; None when there are none."""
        if pairs is None or pairs.is_empty():
            return None
        missing = {"customer_id", "product_id"} - set(pairs.columns)
        if missing:
            raise ValueError(f"also_exclude needs columns customer_id and product_id; missing {sorted(missing)}")
        positions = pl.DataFrame({"customer_id": ids, "_row": np.arange(ids.len())})
        matched = pairs.select(pl.col("customer_id").cast(ids.dtype, strict=False), "product_id").join(
            positions, on="customer_id"
        )
        cols = self.items.lookup(matched["product_id"])
        inside = cols >= 0
        if not inside.any():
            return None
        out = sp.csr_matrix(
            (np.ones(int(inside.sum()), np.float32), (matched["_row"].to_numpy()[inside], cols[inside])),
            shape=(ids.len(), len(self.items)),
        )
        out.sum_duplicates()
        return out

    def _cold_start(
        self, ids: pl.Series, groups, k: int, excluded: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        table = np.vstack([self.popularity_scores[None, :]])
        group_row = np.zeros(ids.len(), np.int64)
        mapping = groups_frame(groups)
        if mapping is not None:
            names, scores = group_popularity(self.matrix, self.customers, mapping, self.popularity)
            if names:
                table = np.vstack(
                    [table, normalize(scores, norm="max", axis=1) + 1e-4 * self.popularity_scores[None, :]]
                )
                lookup = pl.DataFrame({"customer_id": ids}).join(
                    mapping.with_columns(pl.col("customer_id").cast(ids.dtype, strict=False)),
                    on="customer_id",
                    how="left",
                    maintain_order="left",
                )
                group_ids = pl.DataFrame({"group": names, "gid": np.arange(1, len(names) + 1)})
                group_row = (
                    lookup.join(group_ids, on="group", how="left", maintain_order="left")["gid"]
                    .fill_null(0)
                    .to_numpy()
                    .astype(np.int64)
                )
        if excluded is None or excluded.nnz == 0:
            top, values = top_k_rows(table.astype(np.float32), k)
            return top[group_row], values[group_row]
        # Ask each group for k + (most exclusions of any customer) items, drop each customer's excluded ones
        # and keep the first k that remain.
        width = min(k + int(np.diff(excluded.indptr).max()), table.shape[1])
        top, values = top_k_rows(table.astype(np.float32), width)
        top, values = top[group_row], values[group_row]
        keep = (top >= 0) & ~stored_in(excluded, np.arange(top.shape[0])[:, None], top)
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        kept = np.take_along_axis(keep, order, axis=1)
        return (
            np.where(kept, np.take_along_axis(top, order, axis=1), -1),
            np.where(kept, np.take_along_axis(values, order, axis=1), 0.0).astype(values.dtype),
        )

    def similar_products(self, product_ids, k: int = 10, collaborative_share: float = 0.5) -> pl.DataFrame:
        """Neighbours per product: DataFrame product_id, rank, similar_product_id, score.

        score = collaborative_share * co-occurrence cosine + (1 - share) * content cosine; products nobody has
        bought yet get neighbours from content alone. Unknown product ids yield no rows.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        if not 0 <= collaborative_share <= 1:
            raise ValueError("collaborative_share must be in [0, 1]")
        ids = product_ids if isinstance(product_ids, pl.Series) else pl.Series(list(product_ids))
        ids = ids.rename("product_id").unique(maintain_order=True)
        positions = self.items.lookup(ids)
        query = np.flatnonzero(positions >= 0)
        binary = self.matrix.copy()
        binary.data = np.ones_like(binary.data)
        item_vectors = normalize(binary.T.tocsr())
        item_vectors_t = item_vectors.T.tocsr()
        share = collaborative_share if self.content is not None else 1.0
        if self.content is not None:
            features_t = self.content.features.T.tocsr()
        k_eff = min(k, len(self.items) - 1)
        top = np.full((ids.len(), max(k_eff, 0)), -1, np.int64)
        values = np.zeros(top.shape, np.float32)
        step = rows_per_chunk(len(self.items))
        for start in range(0, query.size, step):
            where = query[start : start + step]
            items = positions[where]
            scores = share * np.asarray((item_vectors[items] @ item_vectors_t).todense(), np.float32)
            if self.content is not None and share < 1:
                scores += (1 - share) * np.asarray((self.content.features[items] @ features_t).todense(), np.float32)
            scores[scores <= 0] = -np.inf
            scores[np.arange(len(items)), items] = -np.inf
            top[where], values[where] = top_k_rows(scores, k_eff)
        keep = top >= 0
        position = np.repeat(np.arange(ids.len()), top.shape[1]).reshape(top.shape)
        return pl.DataFrame(
            {
                "product_id": ids.gather(pl.Series(position[keep])),
                "rank": np.tile(np.arange(1, top.shape[1] + 1, dtype=np.int32), (ids.len(), 1))[keep],
                "similar_product_id": self.items.take(top[keep]),
                "score": values[keep].astype(np.float64),
            }
        )

    def seen_pairs(self, customer_ids) -> pl.DataFrame:
        """(customer_id, product_id) pairs the model was fitted on, for the given customers."""
        ids = customer_ids if isinstance(customer_ids, pl.Series) else pl.Series(list(customer_ids))
        ids = ids.rename("customer_id").unique(maintain_order=True)
        rows = self.customers.lookup(ids)
        known = np.flatnonzero(rows >= 0)
        sub = self.matrix[rows[known]].tocoo()
        return pl.DataFrame(
            {
                "customer_id": ids.gather(pl.Series(known[sub.row])),
                "product_id": self.items.take(sub.col),
            }
        )


# -- fitting -------------------------------------------------------------------------------------------------
MIN_VALIDATION_CUSTOMERS = 200
MAX_VALIDATION_FOLDS = 4
MIN_POOLED_VALIDATION_CUSTOMERS = 50


def _per_customer_latest(frame: pl.DataFrame, fraction: float, min_history: int = 5):
    """Each customer's latest `fraction` of interactions (at least one) held out, for customers with at least
    `min_history` interactions: still time-ordered, but every active customer contributes."""
    ranked = frame.with_columns(
        pl.col("ts").rank("ordinal", descending=True).over("customer_id").alias("_recent_rank"),
        pl.len().over("customer_id").alias("_n"),
    )
    held = (pl.col("_n") >= min_history) & (
        pl.col("_recent_rank") <= pl.max_horizontal(pl.lit(1), (pl.col("_n") * fraction).floor().cast(pl.UInt32))
    )
    return (ranked.filter(~held).drop("_recent_rank", "_n"), ranked.filter(held).drop("_recent_rank", "_n"))


def _validation_targets(train_matrix, valid, customers, items, seed, max_customers):
    rows = customers.lookup(valid["customer_id"])
    cols = items.lookup(valid["product_id"])
    fresh = ~stored_in(train_matrix, rows, cols)
    warm = np.diff(train_matrix.indptr) > 0
    fresh &= warm[rows]
    users = np.unique(rows[fresh])
    if users.size > max_customers:
        users = np.sort(np.random.default_rng(seed).choice(users, max_customers, replace=False))
    local = np.full(len(customers), -1, np.int64)
    local[users] = np.arange(users.size)
    take = fresh & (local[rows] >= 0)
    relevant = sp.csr_matrix(
        (np.ones(take.sum(), np.float32), (local[rows[take]], cols[take])), shape=(users.size, len(items))
    )
    relevant.sum_duplicates()
    relevant.data[:] = 1.0
    return users, relevant, np.diff(relevant.indptr)


class _Fold:
    """One validation origin: the model is fitted on `train` and scored on `users` against `relevant`."""

    def __init__(self, train, valid, customers, items, seed, max_customers):
        self.train = train
        self.matrix = interaction_matrix(train, customers, items)
        self.users, self.relevant, self.n_relevant = _validation_targets(
            self.matrix, valid, customers, items, seed, max_customers
        )
        self.cutoff = str(train["ts"].max()) if "ts" in train.columns else None
        self.n_valid = valid.height


def _returning(train: pl.DataFrame, valid: pl.DataFrame) -> int:
    return valid.join(train.select("customer_id").unique(), on="customer_id")["customer_id"].n_unique()


def _validation_folds(frame: pl.DataFrame, seed: int, validation_days, validation_fraction: float):
    """[(train, valid), ...] and a description.

    Global time split first (the same protocol as the outer test split). When fewer than
    MIN_VALIDATION_CUSTOMERS customers return after it (MovieLens-small: ~20), earlier origins are added
    (rolling origin: each fold is the latest window of the previous fold's training part) up to
    MAX_VALIDATION_FOLDS, pooling the returning customers. Choosing on customers who come back after a gap,
    like the test customers, matters: they favour recent items, which a per-customer "latest ratings"
    split (same session as the training ratings) does not show. Only if even the pooled folds hold fewer than
    MIN_POOLED_VALIDATION_CUSTOMERS does it fall back to each customer's latest interactions, then random.
    """
    if "ts" in frame.columns:
        try:
            folds: list = []
            pooled, rest = 0, frame
            while len(folds) < MAX_VALIDATION_FOLDS:
                train, valid = split_by_time(rest, validation_days, None, validation_fraction)
                folds.append((train, valid))
                pooled += _returning(train, valid)
                if pooled >= MIN_VALIDATION_CUSTOMERS:
                    break
                rest = train
            if pooled >= MIN_POOLED_VALIDATION_CUSTOMERS:
                method = "time" if len(folds) == 1 else "rolling_time"
                return folds, {"method": method, "n_returning_customers": pooled}
            train, valid = _per_customer_latest(frame, validation_fraction)
            if valid.height:
                return [(train, valid)], {
                    "method": "per_customer_latest",
                    "why": f"{len(folds)} global time splits left {pooled} returning customers",
                }
        except ValueError:
            pass  # e.g. every ts identical, or too little history for more origins: fall back
    mask = np.random.default_rng(seed).random(frame.height) < validation_fraction
    return [(frame.filter(pl.Series(~mask)), frame.filter(pl.Series(mask)))], {"method": "random"}


BINARY_MODELS = ("itemknn", "ease")  # read bought / not bought unless given weighted=True
RECENCY_FLOOR = 1e-6  # decayed weights never reach 0 (an explicit 0 would drop the item from the history)


def _decay(frame: pl.DataFrame, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life) per row, age in days before the frame's latest ts."""
    age = (frame["ts"].max() - frame["ts"]).dt.total_seconds().to_numpy() / 86_400.0
    return np.maximum(0.5 ** (np.maximum(age, 0.0) / half_life_days), RECENCY_FLOOR)


def _model_input(
    name: str, params: dict, frame: pl.DataFrame, matrix: sp.csr_matrix, customers, items, half_life_days: float | None
):
    """(matrix the collaborative model reads, its params): recency-decayed when half_life_days is set.

    Binary models (item-kNN, EASE) then read the decay itself (1 for today's purchase, 0.5 one half-life ago)
    instead of bought / not bought; weight-aware models read weight x decay.
    """
    if half_life_days is None:
        return matrix, params
    decay = _decay(frame, half_life_days)
    values = decay if name in BINARY_MODELS else frame["weight"].to_numpy() * decay
    decayed = interaction_matrix(frame.with_columns(pl.Series("weight", values)), customers, items)
    return decayed, ({**params, "weighted": True} if name in BINARY_MODELS else params)


def _trend_popularity(frame: pl.DataFrame, items, half_life_days: float | None) -> np.ndarray | None:
    """Recency-weighted popularity (each customer-item pair counts 0.5 ** (age / half-life)), max 1."""
    if half_life_days is None:
        return None
    counts = np.bincount(items.lookup(frame["product_id"]), weights=_decay(frame, half_life_days), minlength=len(items))
    return normalised_popularity(counts.astype(np.float32))


def _blend_tops(candidate: Recommender, users, grid, k):
    """Top-k item positions for each BlendWeights in grid on `users`, sharing the per-chunk component scores."""
    tops: dict = {w: [] for w in grid}
    step = rows_per_chunk(len(candidate.items))
    for start in range(0, users.size, step):
        rows = users[start : start + step]
        history = candidate.matrix[rows]
        collaborative = content = None
        if candidate.collaborative is not None:
            collaborative = normalised(candidate.collaborative.score(rows, candidate._model_history(rows, history)))
        if (
            candidate.content is not None
            and any(w.content > 0 for w in grid)
            or (candidate.content is not None and candidate.new_items.size and candidate.new_product_weight > 0)
        ):
            content = normalised(candidate.content.score(rows, history))
        for w in grid:
            npw = candidate.new_product_weight if w.collaborative > 0 and w.content < 1 else 0.0
            scores = (
                blend(
                    w,
                    collaborative if w.collaborative > 0 else None,
                    content if (w.content > 0 or npw > 0) else None,
                    candidate._blend_popularity_scores(w),
                    candidate.new_items,
                    npw,
                )
                if (collaborative is not None or content is not None)
                else np.broadcast_to(candidate.popularity_scores, (len(rows), len(candidate.items))).copy()
            )
            mask_seen(scores, history)
            tops[w].append(top_k_rows(scores, k)[0])
    return {w: (np.vstack(parts) if parts else np.empty((0, k), np.int64)) for w, parts in tops.items()}


def _validate(probes: list, grid, k) -> dict:
    """{weights: metrics} pooled over the validation folds; probes = [(Recommender, _Fold), ...]."""
    per_fold = [(_blend_tops(probe, fold.users, grid, k), fold) for probe, fold in probes]
    n_catalog = len(probes[0][0].items)
    out = {}
    for w in grid:
        tops = [tops_by_w[w] for tops_by_w, _ in per_fold]
        parts = [per_customer_metrics(tops_by_w[w], fold.relevant, fold.n_relevant) for tops_by_w, fold in per_fold]
        pooled = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        out[w] = summarise(pooled, np.vstack(tops), n_catalog, k)
    return out


def _validate_one(probes, weights, k) -> dict:
    return _validate(probes, [weights], k)[weights]


def _exposure_sweep(probes, options, k) -> dict:
    """{setting: pooled validation metrics + coverage_all_customers} for each exposure setting (None = off).

    The cap depends on every customer in the batch, so each fold's lists are computed for all customers with
    history in the fold (as the daily batch does) and the validation customers' lists are read from those.
    Coverage is the distinct items over all those lists / catalogue, averaged over folds.
    """
    n_items = len(probes[0][0].items)
    parts: dict = {option: [] for option in options}
    coverages: dict = {option: [] for option in options}
    for probe, fold in probes:
        rows = np.flatnonzero(np.diff(fold.matrix.indptr) > 0)
        width = n_candidates(rows.size, n_items, k)
        step = rows_per_chunk(n_items)
        candidates, values = [], []
        for start in range(0, rows.size, step):
            scores, history, _ = probe._score_rows(rows[start : start + step], probe.weights, probe.new_product_weight)
            mask_seen(scores, history)
            chunk_candidates, chunk_values = top_k_rows(scores, width)
            candidates.append(chunk_candidates)
            values.append(chunk_values)
        candidates, values = np.vstack(candidates), np.vstack(values)
        at = np.searchsorted(rows, fold.users)  # validation customers are warm, so all in rows
        for option in options:
            top = capped_lists(candidates, values, k, option, n_items)[0]
            parts[option].append(per_customer_metrics(top[at], fold.relevant, fold.n_relevant))
            coverages[option].append(np.unique(top[top >= 0]).size / n_items)
    out = {}
    for option in options:
        pooled = {name: np.concatenate([p[name] for p in parts[option]]) for name in parts[option][0]}
        out[option] = {
            **{f"{name}@{k}": float(per_customer.mean()) for name, per_customer in pooled.items()},
            "coverage_all_customers": float(np.mean(coverages[option])),
        }
    return out


def _choose_exposure(sweep: dict, k: int):
    """The setting with the highest coverage whose validation precision@k is within EXPOSURE_TOLERANCE of
    the uncapped lists' (ties: the earlier, milder setting)."""
    floor = sweep[None][f"precision@{k}"] * (1 - EXPOSURE_TOLERANCE)
    allowed = [option for option in sweep if sweep[option][f"precision@{k}"] >= floor]
    return max(allowed, key=lambda o: (sweep[o]["coverage_all_customers"], -list(sweep).index(o)))


# Cheapest first (fit + scoring every customer); a costlier model must beat a cheaper one by more than
# SELECTION_TOLERANCE (relative, on the primary metric) to be chosen.
COST_ORDER = ("itemknn", "ease", "als", "nmf")
SELECTION_TOLERANCE = 0.02
NEW_PRODUCT_WEIGHTS = (0.0, 0.3, 1.0)
# Tuned on validation when the data is small enough (tune_max_interactions): each value is one more fit per fold.
PARAM_GRIDS: dict[str, dict[str, tuple]] = {
    "ease": {"l2": (100.0, 300.0, 1000.0)},
    "itemknn": {"shrink": (10.0, 100.0)},
}
INTERACTION_HALF_LIVES = (None, 365.0, 90.0)  # days; None = no extra recency weighting
POPULARITY_HALF_LIVES = (None, 365.0, 90.0)
TUNED_POPULARITY_WEIGHTS = (0.0, 0.1, 0.3, 1.0)
# exposure_cap="auto": tail slots x fair share (exposure.py), mildest first; chosen for the highest coverage
# of all customers' lists whose validation precision@k stays within EXPOSURE_TOLERANCE of the uncapped lists'.
EXPOSURE_OPTIONS = tuple(ExposureCap(tail, share) for share in (4.0, 1.0) for tail in (2, 3, 4, 5))
EXPOSURE_TOLERANCE = 0.10


def _default_candidates(
    n_interactions: int, nmf_max_interactions: int, als_max_interactions: int
) -> tuple[list[str], dict]:
    names, skipped = ["itemknn", "ease"], {}
    if not ALS.available():
        skipped["als"] = "package 'implicit' not installed"
    elif n_interactions > als_max_interactions:
        skipped["als"] = f"{n_interactions} interactions > als_max_interactions={als_max_interactions}"
    else:
        names.append("als")
    if n_interactions <= nmf_max_interactions:
        names.append("nmf")
    else:
        skipped["nmf"] = f"{n_interactions} interactions > nmf_max_interactions={nmf_max_interactions}"
    return names, skipped


def _successive_halving(configs: list[tuple[dict, float | None]], folds: list, evaluate, known: dict) -> list[dict]:
    """Tuning rows for every (params, half_life) config. `known` holds metrics already pooled over all folds (the
    candidate step's default configuration), keyed by (repr(params), half_life). With several folds and more
    than three new configs, each new config is first judged on the newest fold alone and only the best third
    (in config order on ties) on all folds: a full evaluation costs one fit per fold, so eight new configs
    over four folds cost 8 + 3 x 3 fits instead of 8 x 4, and the choice is still made on the pooled folds."""

    def key(config):
        return repr(config[0]), config[1]

    def row(config, metrics, n_folds):
        return {"params": config[0], "interaction_half_life_days": config[1], **metrics, "folds_evaluated": n_folds}

    new = [i for i, c in enumerate(configs) if key(c) not in known]
    first, survivors = {}, set(new)
    if len(folds) > 1 and len(new) > 3:
        first = {i: evaluate(configs[i], folds[:1]) for i in new}
        survivors = set(sorted(new, key=lambda i: (-first[i][PRIMARY_METRIC], i))[: -(-len(new) // 3)])
    rows = []
    for i, config in enumerate(configs):
        if key(config) in known:
            rows.append(row(config, known[key(config)], len(folds)))
        elif i in survivors:
            rows.append(row(config, evaluate(config, folds), len(folds)))
        else:
            rows.append(row(config, first[i], 1))
    return rows


def _param_grid(name: str, fixed: dict) -> list[dict]:
    grid = {key: values for key, values in PARAM_GRIDS.get(name, {}).items() if key not in fixed}
    if not grid:
        return [dict(fixed)]
    keys = sorted(grid)
    return [{**fixed, **dict(zip(keys, values))} for values in itertools.product(*(grid[key] for key in keys))]


def fit_recommender(
    interactions: pl.DataFrame,
    products: pl.DataFrame | None = None,
    seed: int = 0,
    algorithm: str = "auto",
    candidates: list[str] | None = None,
    model_params: dict | None = None,
    validation_days: float | None = None,
    validation_fraction: float = 0.1,
    max_validation_customers: int = 5000,
    new_product_weight: float | None = None,
    nmf_max_interactions: int = 2_000_000,
    als_max_interactions: int = 3_000_000,
    k: int = 10,
    tune_max_interactions: int = 2_000_000,
    interaction_half_life_days: float | None | str = "auto",
    popularity_half_life_days: float | None | str = "auto",
    exposure_cap: ExposureCap | None | str = None,
) -> Recommender:
    """Fit the recommender; see the module docstring. `algorithm` in auto|itemknn|ease|als|nmf, or
    "popularity" for the baseline itself (distinct customers per item, nothing else fitted).

    new_product_weight: weight of the content score for products without interactions; None = the largest of
    NEW_PRODUCT_WEIGHTS whose validation primary metric is within SELECTION_TOLERANCE of the best.
    interaction_half_life_days / popularity_half_life_days: extra recency weighting of what the collaborative
    model reads / of the popularity signal in the blend; "auto" = chosen on validation from
    INTERACTION_HALF_LIVES / POPULARITY_HALF_LIVES (needs ts), None = off. With more than
    `tune_max_interactions` interactions "auto" means off and the model's parameters are not tuned (each
    tuned value costs one more fit per validation fold), so large data keeps the cost of one fit per candidate.
    exposure_cap: cap on how many customers' lower slots one item may fill in a batch (exposure.py), to
    spread lists over the catalogue; None = off (rank by score only), "auto" = chosen on validation from
    EXPOSURE_OPTIONS (see _choose_exposure; off above tune_max_interactions), or an ExposureCap.
    """
    started = time.perf_counter()
    timings = {}
    frame = validate_interactions(interactions)
    if products is not None:
        from customer_assets.ml.recommend.content import validate_products

        products = validate_products(products)
    model_params = model_params or {}
    customers = IdIndex.from_values(frame["customer_id"])
    id_columns = [frame["product_id"]] + ([products["product_id"]] if products is not None else [])
    items = IdIndex.from_values(*id_columns)
    full_matrix = interaction_matrix(frame, customers, items)
    if algorithm == POPULARITY:
        return _popularity_recommender(customers, items, full_matrix, seed, k, time.perf_counter() - started)
    has_ts = "ts" in frame.columns
    tune = frame.height <= tune_max_interactions

    def half_lives(setting, options):
        if setting == "auto":
            return list(options) if (tune and has_ts) else [None]
        if setting is not None and (not has_ts or setting <= 0):
            raise ValueError("a half-life needs a 'ts' column and must be > 0 days")
        return [setting]

    interaction_options = half_lives(interaction_half_life_days, INTERACTION_HALF_LIVES)
    popularity_options = half_lives(popularity_half_life_days, POPULARITY_HALF_LIVES)

    if algorithm == "auto":
        names, skipped = (
            (list(candidates), {})
            if candidates
            else _default_candidates(frame.height, nmf_max_interactions, als_max_interactions)
        )
    else:
        names, skipped = [algorithm], {}

    splits, validation = _validation_folds(frame, seed, validation_days, validation_fraction)
    folds = [_Fold(train, valid, customers, items, seed, max_validation_customers) for train, valid in splits]
    content = ContentModel().fit(products, items) if products is not None else None
    timings["prepare"] = time.perf_counter() - started

    def fit_on(
        fold, name, params, half_life, with_content=False, weights=BlendWeights(1, 0, 0), popularity_half_life=None
    ):
        model_matrix, fit_params = _model_input(name, params, fold.train, fold.matrix, customers, items, half_life)
        model = make_model(name, **fit_params).fit(model_matrix, seed)
        return Recommender(
            customers,
            items,
            fold.matrix,
            model,
            content if with_content else None,
            weights,
            0.0,
            {},
            model_matrix=None if half_life is None else model_matrix,
            blend_popularity=_trend_popularity(fold.train, items, popularity_half_life),
        )

    baseline = _validate_one(
        [
            (Recommender(customers, items, fold.matrix, None, None, BlendWeights(0, 0, 1), 0.0, {}), fold)
            for fold in folds
        ],
        BlendWeights(0, 0, 1),
        k,
    )

    # 1. the collaborative model, each with its default (or given) parameters and no extra recency weighting
    # (with one candidate there is nothing to choose: its configurations are judged in step 2 alone)
    candidate_metrics = {}
    for name in names if len(names) > 1 else []:
        tick = time.perf_counter()
        probes = [(fit_on(fold, name, model_params.get(name, {}), None), fold) for fold in folds]
        fit_seconds = time.perf_counter() - tick
        candidate_metrics[name] = {
            **_validate_one(probes, BlendWeights(1, 0, 0), k),
            "fit_seconds": round(fit_seconds, 3),
        }
    if candidate_metrics:
        best = max(candidate_metrics[n][PRIMARY_METRIC] for n in names)
        good_enough = [n for n in names if candidate_metrics[n][PRIMARY_METRIC] >= best * (1 - SELECTION_TOLERANCE)]
        chosen = min(
            good_enough, key=lambda n: (COST_ORDER.index(n) if n in COST_ORDER else len(COST_ORDER), names.index(n))
        )
    else:
        chosen = names[0]
    timings["candidates"] = time.perf_counter() - started - timings["prepare"]

    # 2. the chosen model's parameters and the recency weighting of its input, on the same folds
    base_params = model_params.get(chosen, {})
    configs = [
        (params, half_life)
        for half_life in interaction_options
        for params in (_param_grid(chosen, base_params) if tune else [base_params])
    ]
    kept_probes = None
    if len(configs) == 1:
        # A fixed recipe (a refit of a resolved one): fit once and keep the fold models for the blend step.
        tick = time.perf_counter()
        kept_probes = [(fit_on(fold, chosen, *configs[0]), fold) for fold in folds]
        metrics = {
            **_validate_one(kept_probes, BlendWeights(1, 0, 0), k),
            "fit_seconds": round(time.perf_counter() - tick, 3),
        }
        tuning = [
            {
                "params": configs[0][0],
                "interaction_half_life_days": configs[0][1],
                **metrics,
                "folds_evaluated": len(folds),
            }
        ]
    else:
        tuning = _successive_halving(
            configs,
            folds,
            lambda config, on: _validate_one(
                [(fit_on(fold, chosen, *config), fold) for fold in on], BlendWeights(1, 0, 0), k
            ),
            known={(repr(base_params), None): candidate_metrics[chosen]} if chosen in candidate_metrics else {},
        )
    # Ties (and anything within 0.5 %) go to the earlier, simpler configuration, among those seen on every fold.
    finalists = [t for t in tuning if t["folds_evaluated"] == len(folds)]
    top_score = max(t[PRIMARY_METRIC] for t in finalists)
    best_config = next(t for t in finalists if t[PRIMARY_METRIC] >= top_score * 0.995)
    chosen_params, chosen_half_life = best_config["params"], best_config["interaction_half_life_days"]
    if chosen not in candidate_metrics:  # the candidate's untuned figures when judged, else the chosen ones
        untuned = next(
            (t for t in finalists if (t["params"], t["interaction_half_life_days"]) == (base_params, None)), best_config
        )
        candidate_metrics[chosen] = {
            key: value
            for key, value in untuned.items()
            if key not in ("params", "interaction_half_life_days", "folds_evaluated")
        }
    timings["tuning"] = time.perf_counter() - started - timings["prepare"] - timings["candidates"]

    # 3. blend weights (collaborative + content + popularity, the popularity recency-weighted or not)
    if kept_probes is not None:
        probes = kept_probes
        for probe, _ in probes:
            probe.content = content
    else:
        probes = [(fit_on(fold, chosen, chosen_params, chosen_half_life, with_content=True), fold) for fold in folds]
    popularity_weights = TUNED_POPULARITY_WEIGHTS if tune else None
    grid = weight_grid(True, content is not None, popularity_weights)
    blends, blend_table = {}, []
    chosen_pop_half_life, weights, best_blend = None, None, None
    for pop_half_life in popularity_options:
        for probe, fold in probes:
            probe.blend_popularity = _trend_popularity(fold.train, items, pop_half_life)
        results = _validate(probes, grid, k)
        for w in grid:
            blend_table.append(
                {**w.as_dict(), "popularity_half_life_days": pop_half_life, PRIMARY_METRIC: results[w][PRIMARY_METRIC]}
            )
        local_best = max(grid, key=lambda w: (results[w][PRIMARY_METRIC], -grid.index(w)))
        if best_blend is None or results[local_best][PRIMARY_METRIC] > best_blend[PRIMARY_METRIC] * 1.005:
            chosen_pop_half_life, weights, best_blend = pop_half_life, local_best, results[local_best]
            blends = results
    for probe, fold in probes:
        probe.blend_popularity = _trend_popularity(fold.train, items, chosen_pop_half_life)
    new_product_sweep = {}
    if content is not None and new_product_weight is None:
        # Largest weight within tolerance of the best: new products get exposure unless it measurably costs.
        for candidate_weight in NEW_PRODUCT_WEIGHTS:
            for probe, _ in probes:
                probe.new_product_weight = candidate_weight
            new_product_sweep[candidate_weight] = _validate_one(probes, weights, k)
        top = max(m[PRIMARY_METRIC] for m in new_product_sweep.values())
        new_product_weight = max(
            w for w, m in new_product_sweep.items() if m[PRIMARY_METRIC] >= top * (1 - SELECTION_TOLERANCE)
        )
        blends[weights] = new_product_sweep[new_product_weight]
    new_product_weight = float(new_product_weight or 0.0)
    for probe, _ in probes:
        probe.new_product_weight = new_product_weight
    strategies = {"collaborative": blends[BlendWeights(1, 0, 0)], "popular": baseline}
    if content is not None:
        strategies["content"] = _validate_one(probes, BlendWeights(0, 1, 0), k)
        strategies["hybrid"] = blends[weights]

    # 4. exposure cap on the fitted blend's lists, judged on all fold customers' lists at once
    tick = time.perf_counter()
    exposure_sweep, chosen_exposure = {}, exposure_cap if isinstance(exposure_cap, ExposureCap) else None
    if exposure_cap == "auto" and tune:
        for probe, _ in probes:
            probe.weights = weights
        exposure_sweep = _exposure_sweep(probes, (None, *EXPOSURE_OPTIONS), k)
        chosen_exposure = _choose_exposure(exposure_sweep, k)
    elif exposure_cap not in (None, "auto") and not isinstance(exposure_cap, ExposureCap):
        raise ValueError(f"exposure_cap must be None, 'auto' or an ExposureCap, got {exposure_cap!r}")
    timings["exposure"] = time.perf_counter() - tick
    probes.clear()

    tick = time.perf_counter()
    final_input, final_params = _model_input(
        chosen, chosen_params, frame, full_matrix, customers, items, chosen_half_life
    )
    final_model = make_model(chosen, **final_params).fit(final_input, seed)
    timings["refit"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started

    chosen_metrics = blends[weights]
    others = ", ".join(f"{n} {candidate_metrics[n][PRIMARY_METRIC]:.4f}" for n in names if n != chosen)
    recency = (
        f"; tuned on the same validation: params {chosen_params or 'default'}, interaction half-life "
        f"{chosen_half_life or 'none'} days ({PRIMARY_METRIC} {best_config[PRIMARY_METRIC]:.4f} of "
        f"{len(tuning)} configurations, {sum(t['folds_evaluated'] == len(folds) for t in tuning)} of them on "
        f"every fold), blend popularity half-life {chosen_pop_half_life or 'none'} "
        f"days, blend {PRIMARY_METRIC} {chosen_metrics[PRIMARY_METRIC]:.4f}"
    )
    report = {
        "primary_metric": PRIMARY_METRIC,
        "metrics": chosen_metrics,
        "baseline": {"popularity": baseline},
        "lift_vs_popularity": {
            m: (chosen_metrics[m] / baseline[m] if baseline[m] > 0 else None)
            for m in chosen_metrics
            if "@" in m or m == "coverage"
        },
        "strategies": strategies,
        "candidates": candidate_metrics,
        "skipped_candidates": skipped,
        "chosen_model": chosen,
        "model_params": chosen_params,
        "interaction_half_life_days": chosen_half_life,
        "popularity_half_life_days": chosen_pop_half_life,
        "tuning": tuning,
        "tuned": tune,
        "why": (
            f"{chosen}: validation {PRIMARY_METRIC} {candidate_metrics[chosen][PRIMARY_METRIC]:.4f} "
            f"({others or 'no other candidate'}; popularity {baseline[PRIMARY_METRIC]:.4f}); the cheapest "
            f"model within {SELECTION_TOLERANCE:.0%} of the best is chosen, cost order {list(COST_ORDER)}" + recency
        ),
        "blend_weights": weights.as_dict(),
        "blend_grid": blend_table,
        "new_product_weight": new_product_weight,
        "new_product_weight_sweep": {str(w): m[PRIMARY_METRIC] for w, m in new_product_sweep.items()},
        "exposure_cap": None if chosen_exposure is None else chosen_exposure.as_dict(),
        "exposure_sweep": [
            {**(option.as_dict() if option else {"tail": 0, "fair_share": None}), **metrics}
            for option, metrics in exposure_sweep.items()
        ],
        "exposure_rule": (
            f"highest coverage of all validation-fold customers' top-{k} lists with validation "
            f"precision@{k} >= {1 - EXPOSURE_TOLERANCE:.0%} of the uncapped lists'"
            if exposure_sweep
            else "not tuned"
        ),
        "validation": {
            **validation,
            "n_customers": int(sum(f.users.size for f in folds)),
            "folds": [
                {
                    "cutoff": f.cutoff,
                    "n_customers": int(f.users.size),
                    "n_train_interactions": f.train.height,
                    "n_validation_interactions": f.n_valid,
                }
                for f in folds
            ],
            "n_train_interactions": folds[0].train.height,
            "n_validation_interactions": folds[0].n_valid,
            "note": "used for model, parameter and weight selection, so optimistic; compare models "
            "with evaluate_on_holdout on an outer time_split",
        },
        "data": {
            "n_customers": len(customers),
            "n_products": len(items),
            "n_interactions": frame.height,
            "n_products_without_interactions": int((item_popularity(full_matrix) == 0).sum()),
            "has_content": content is not None,
        },
        "seed": seed,
        "k": k,
        "timings_seconds": {name: round(value, 3) for name, value in timings.items()},
    }
    if validation.get("cutoff") is None and folds[0].cutoff is not None:
        report["validation"]["cutoff"] = folds[0].cutoff
    return Recommender(
        customers,
        items,
        full_matrix,
        final_model,
        content,
        weights,
        new_product_weight,
        report,
        model_matrix=None if chosen_half_life is None else final_input,
        blend_popularity=_trend_popularity(frame, items, chosen_pop_half_life),
        exposure=chosen_exposure,
    )


def _popularity_recommender(
    customers: IdIndex, items: IdIndex, matrix: sp.csr_matrix, seed: int, k: int, seconds: float
) -> Recommender:
    report = {
        "primary_metric": PRIMARY_METRIC,
        "chosen_model": POPULARITY,
        "model_params": {},
        "metrics": {},
        "baseline": {},
        "strategies": {},
        "candidates": {},  # nothing validated: no choice made
        "why": "popularity asked for: the plain baseline (distinct customers per item) serves, no model fitted",
        "blend_weights": BlendWeights(0, 0, 1).as_dict(),
        "new_product_weight": 0.0,
        "exposure_cap": None,
        "exposure_sweep": [],
        "exposure_rule": "not tuned",
        "interaction_half_life_days": None,
        "popularity_half_life_days": None,
        "data": {
            "n_customers": len(customers),
            "n_products": len(items),
            "n_interactions": int(matrix.nnz),
            "n_products_without_interactions": int((item_popularity(matrix) == 0).sum()),
            "has_content": False,
        },
        "seed": seed,
        "k": k,
        "timings_seconds": {"total": round(seconds, 3)},
    }
    return Recommender(customers, items, matrix, None, None, BlendWeights(0, 0, 1), 0.0, report)
