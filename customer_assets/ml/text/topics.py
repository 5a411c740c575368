"""Review topics with gensim LDA: k chosen by c_v coherence, readable labels, seed stability.

Flow (all offline; gensim's LdaModel and CoherenceModel need no data):
1. Tokens without stop words / negators / numbers, Snowball-stemmed; a bounded vocabulary
   (document frequency >= `no_below`, share <= `no_above`, at most `max_vocabulary` stems).
2. Model selection on a random sample of at most `sample_size` documents: one LDA per k in
   `k_range` (inclusive), scored by c_v (sliding-window NPMI, on the sample's token lists) and u_mass
   (document co-occurrence); the k with the highest c_v wins (ties: fewer topics).
3. Stability: the chosen k is refitted on the sample with other seeds; topics are matched one-to-one
   to the reference model (Hungarian assignment on top-word Jaccard) and the matched Jaccard averaged.
4. Final model: the chosen k fitted on every document (bounded passes/iterations), documents
   assigned to their most probable topic. Documents with no in-vocabulary word get a null topic.
Labels show the most frequent surface word of each top stem ("shipping", not "ship").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from .preprocess import DEFAULT_MAX_CHARS, SnowballStems, clean_texts, language_resources, token_frame

LABEL_WORDS = 3
WORD_ONLY = r"^\p{L}[\p{L}']*$"


def _topic_tokens(cleaned: pl.Series, language: str, stems: SnowballStems) -> pl.DataFrame:
    """(doc, token, stem) rows for topic modelling: words of 3+ letters that are not stop words."""
    stop_words = list(language_resources(language).topic_stop_words)
    tokens = token_frame(cleaned).filter(
        pl.col("token").str.contains(WORD_ONLY)
        & (pl.col("token").str.len_chars() >= 3)
        & ~pl.col("token").is_in(stop_words)
    )
    return tokens.with_columns(stems.stem_series(tokens["token"]).alias("stem")).select("doc", "token", "stem")


def _bows(matrix: sp.csr_matrix) -> list[list[tuple[int, int]]]:
    """gensim bag-of-words lists from a CSR doc x term count matrix (gensim's API is per document)."""
    indptr, indices, data = matrix.indptr, matrix.indices.tolist(), matrix.data.astype(int).tolist()
    return [list(zip(indices[a:b], data[a:b])) for a, b in zip(indptr[:-1].tolist(), indptr[1:].tolist())]


def _jaccard(a: list[str], b: list[str]) -> float:
    a_set, b_set = set(a), set(b)
    return len(a_set & b_set) / len(a_set | b_set) if a_set | b_set else 1.0


def matched_topic_jaccard(reference: list[list[str]], other: list[list[str]]) -> float:
    """Mean Jaccard of top-word sets after matching topics one-to-one (Hungarian assignment)."""
    similarity = np.array([[_jaccard(a, b) for b in other] for a in reference])
    rows, cols = linear_sum_assignment(-similarity)
    return float(similarity[rows, cols].mean())


@dataclass
class TopicResult:
    """Fitted topics. `doc_topics`: doc_index, topic_id (null without vocabulary words),
    topic_probability. `topics`: topic_id, label, top_terms, size. `coherence`: k, c_v, u_mass."""

    doc_topics: pl.DataFrame
    topics: pl.DataFrame
    coherence: pl.DataFrame
    chosen_k: int
    stability: dict
    report: dict
    model: Any = field(repr=False)
    vocabulary: dict[str, int] = field(repr=False)
    language: str = "english"
    max_chars: int = DEFAULT_MAX_CHARS

    def assign(self, texts: Any) -> pl.DataFrame:
        """Most probable topic of new texts with the fitted model (doc_index, topic_id, topic_probability)."""
        cleaned = clean_texts(texts, max_chars=self.max_chars)
        counts = _count_matrix(
            _topic_tokens(cleaned, self.language, SnowballStems(self.language)), len(cleaned), self.vocabulary
        )
        return _assign_topics(self.model, counts)


def _count_matrix(tokens: pl.DataFrame, n_docs: int, vocabulary: dict[str, int]) -> sp.csr_matrix:
    ids = pl.DataFrame(
        {"stem": list(vocabulary), "col": np.fromiter(vocabulary.values(), dtype=np.uint32, count=len(vocabulary))},
        schema={"stem": pl.String, "col": pl.UInt32},
    )
    pairs = tokens.join(ids, on="stem", how="inner")
    matrix = sp.csr_matrix(
        (np.ones(pairs.height), (pairs["doc"].to_numpy(), pairs["col"].to_numpy())), shape=(n_docs, len(vocabulary))
    )
    matrix.sum_duplicates()
    return matrix


def _assign_topics(model, counts: sp.csr_matrix, chunk: int = 20_000) -> pl.DataFrame:
    n_docs = counts.shape[0]
    topic_id = np.full(n_docs, -1, dtype=np.int64)
    probability = np.zeros(n_docs)
    nonempty = np.flatnonzero(np.diff(counts.indptr) > 0)
    for start in range(0, len(nonempty), chunk):
        rows = nonempty[start : start + chunk]
        gamma, _ = model.inference(counts[rows])
        shares = gamma / gamma.sum(axis=1, keepdims=True)
        topic_id[rows] = shares.argmax(axis=1)
        probability[rows] = shares.max(axis=1)
    assigned = topic_id >= 0
    return pl.DataFrame(
        {"doc_index": np.arange(n_docs, dtype=np.int64), "topic_id": topic_id, "p": probability}
    ).select(
        "doc_index",
        pl.when(pl.Series(assigned)).then(pl.col("topic_id")).alias("topic_id"),
        pl.when(pl.Series(assigned)).then(pl.col("p")).alias("topic_probability"),
    )


def _fit_lda(bows, id2word, k: int, seed: int, passes: int, iterations: int, chunksize: int):
    from .lda import VectorizedLdaModel

    return VectorizedLdaModel(
        corpus=bows,
        id2word=id2word,
        num_topics=k,
        random_state=seed,
        passes=passes,
        iterations=iterations,
        chunksize=chunksize,
        eval_every=None,  # perplexity logging would cost a pass per evaluation
        dtype=np.float64,
    )


def _top_stems(model, k: int, top_n: int, stems_by_id: list[str]) -> list[list[str]]:
    return [[stems_by_id[word_id] for word_id, _ in model.get_topic_terms(topic, topn=top_n)] for topic in range(k)]


def fit_topics(
    texts: Any,
    k_range: tuple[int, int] = (4, 10),
    seed: int = 0,
    language: str = "english",
    top_n: int = 10,
    sample_size: int = 20_000,
    stability_seeds: int = 2,
    no_below: int = 5,
    no_above: float = 0.5,
    max_vocabulary: int = 10_000,
    selection_passes: int = 3,
    final_passes: int | None = None,
    iterations: int = 50,
    chunksize: int = 2_000,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> TopicResult:
    """Fit LDA topics on review texts; see the module docstring for the procedure.

    `final_passes=None` sizes the final fit to about 100k document visits (at least one pass, at
    most `selection_passes`): online LDA on 200k reviews needs one pass, a small corpus several.
    """
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel

    low_k, high_k = k_range
    if not 2 <= low_k <= high_k:
        raise ValueError(f"k_range must satisfy 2 <= low <= high, got {k_range}")
    if not 0 < no_above <= 1 or no_below < 1:
        raise ValueError(f"need no_below >= 1 and 0 < no_above <= 1, got {no_below}, {no_above}")
    language = language_resources(language).language
    clock, seconds = time.perf_counter(), {}

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    cleaned = clean_texts(texts, max_chars=max_chars)
    n_docs = len(cleaned)
    stems = SnowballStems(language)
    tokens = _topic_tokens(cleaned, language, stems)

    doc_freq = tokens.unique(["doc", "stem"]).group_by("stem").len()
    kept = (
        doc_freq.filter((pl.col("len") >= no_below) & (pl.col("len") <= no_above * n_docs))
        .sort(["len", "stem"], descending=[True, False])
        .head(max_vocabulary)
        .sort("stem")
    )
    if kept.height < high_k:
        raise ValueError(
            f"only {kept.height} stems pass no_below={no_below}/no_above={no_above}: too few texts or words for "
            f"{high_k} topics"
        )
    vocabulary = {stem: i for i, stem in enumerate(kept["stem"].to_list())}
    stems_by_id = kept["stem"].to_list()
    surface = (
        tokens.filter(pl.col("stem").is_in(kept["stem"].implode()))
        .group_by("stem", "token")
        .len()
        .sort(["len", "token"], descending=[True, False])
        .unique("stem", keep="first")
    )
    surface_of = dict(zip(surface["stem"].to_list(), surface["token"].to_list()))

    counts = _count_matrix(tokens, n_docs, vocabulary)
    nonempty = np.flatnonzero(np.diff(counts.indptr) > 0)
    if len(nonempty) < 2 * high_k:
        raise ValueError(f"only {len(nonempty)} texts contain vocabulary words: too few for {high_k} topics")
    rng = np.random.default_rng(seed)
    sample_rows = np.sort(rng.choice(nonempty, size=min(sample_size, len(nonempty)), replace=False))
    sample_counts = counts[sample_rows]
    sample_bows = _bows(sample_counts)
    id2word = Dictionary.from_corpus(sample_bows, id2word=dict(enumerate(stems_by_id)))
    # Coherence texts: each sampled document's in-vocabulary stems in order, for c_v's sliding window.
    sample_tokens = (
        tokens.filter(pl.col("stem").is_in(kept["stem"].implode()))
        .join(pl.DataFrame({"doc": sample_rows.astype(np.uint32)}), on="doc", how="semi")
        .group_by("doc", maintain_order=True)
        .agg("stem")
    )
    coherence_texts = sample_tokens["stem"].to_list()
    lap("preprocess")

    selection_args = dict(seed=seed, passes=selection_passes, iterations=iterations, chunksize=chunksize)
    candidates = {k: _fit_lda(sample_bows, id2word, k, **selection_args) for k in range(low_k, high_k + 1)}
    candidate_topics = {k: _top_stems(model, k, top_n, stems_by_id) for k, model in candidates.items()}
    all_topics = list(candidate_topics.values())
    lap("fit_candidates")
    c_v_model = CoherenceModel.for_topics(
        all_topics, texts=coherence_texts, dictionary=id2word, coherence="c_v", topn=top_n, processes=1
    )
    u_mass_model = CoherenceModel.for_topics(
        all_topics, corpus=sample_bows, dictionary=id2word, coherence="u_mass", topn=top_n, processes=1
    )
    c_v = [float(value) for _, value in c_v_model.compare_model_topics(all_topics)]
    u_mass = [float(value) for _, value in u_mass_model.compare_model_topics(all_topics)]
    ks = list(candidates)
    chosen_k = ks[int(np.argmax(c_v))]  # argmax returns the first maximum: fewer topics on ties
    lap("coherence")

    reference_topics = candidate_topics[chosen_k]
    seed_jaccards = [
        matched_topic_jaccard(
            reference_topics,
            _top_stems(
                _fit_lda(sample_bows, id2word, chosen_k, **{**selection_args, "seed": seed + offset}),
                chosen_k,
                top_n,
                stems_by_id,
            ),
        )
        for offset in range(1, stability_seeds + 1)
    ]

    lap("stability")
    if final_passes is None:
        final_passes = int(np.clip(np.ceil(100_000 / len(nonempty)), 1, selection_passes))
    if len(sample_rows) == len(nonempty):
        final_model = candidates[chosen_k]
    else:
        final_model = _fit_lda(
            _bows(counts[nonempty]),
            id2word,
            chosen_k,
            seed=seed,
            passes=final_passes,
            iterations=iterations,
            chunksize=chunksize,
        )
    final_topics = _top_stems(final_model, chosen_k, top_n, stems_by_id)
    final_c_v = (
        float(c_v_model.compare_model_topics([final_topics])[0][1])
        if final_model is not candidates[chosen_k]
        else c_v[ks.index(chosen_k)]
    )
    lap("fit_final")
    doc_topics = _assign_topics(final_model, counts)
    lap("assign")

    top_terms = [list(dict.fromkeys(surface_of.get(stem, stem) for stem in topic)) for topic in final_topics]
    sizes = doc_topics.drop_nulls("topic_id").group_by("topic_id").len()
    size_of = dict(zip(sizes["topic_id"].to_list(), sizes["len"].to_list()))
    topics = pl.DataFrame(
        {
            "topic_id": np.arange(chosen_k, dtype=np.int64),
            "label": [" / ".join(terms[:LABEL_WORDS]) for terms in top_terms],
            "top_terms": top_terms,
            "size": [int(size_of.get(topic, 0)) for topic in range(chosen_k)],
        }
    )
    coherence = pl.DataFrame({"k": ks, "c_v": c_v, "u_mass": u_mass})
    stability = {
        "method": f"mean Jaccard of top-{top_n} stems, topics matched one-to-one to the seed-{seed} model",
        "seeds": [seed + offset for offset in range(1, stability_seeds + 1)],
        "per_seed_jaccard": seed_jaccards,
        "mean_jaccard": float(np.mean(seed_jaccards)) if seed_jaccards else None,
    }
    report = {
        "model": "topics",
        "language": language,
        "primary_metric": "c_v",
        "higher_is_better": True,
        "metrics": {"c_v": final_c_v, "chosen_k": chosen_k, "stability_mean_jaccard": stability["mean_jaccard"]},
        "coherence_by_k": coherence.to_dicts(),
        "chosen_k": chosen_k,
        "k_range": [low_k, high_k],
        "stability": stability,
        "n_texts": n_docs,
        "n_texts_without_vocabulary": int(n_docs - len(nonempty)),
        "n_selection_sample": int(len(sample_rows)),
        "vocabulary_size": len(vocabulary),
        "topics": topics.select("topic_id", "label", "size").to_dicts(),
        "settings": {
            "no_below": no_below,
            "no_above": no_above,
            "max_vocabulary": max_vocabulary,
            "selection_passes": selection_passes,
            "final_passes": final_passes,
            "iterations": iterations,
            "top_n": top_n,
            "seed": seed,
        },
        "seconds": seconds,
        "baseline_note": "c_v of a topic model has no trivial baseline; compare models on the same texts",
    }
    return TopicResult(
        doc_topics=doc_topics,
        topics=topics,
        coherence=coherence,
        chosen_k=chosen_k,
        stability=stability,
        report=report,
        model=final_model,
        vocabulary=vocabulary,
        language=language,
        max_chars=max_chars,
    )
