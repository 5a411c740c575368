"""Tests for customer_assets.ml.text: sentiment, topics, aspects, preprocessing — all offline."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from customer_assets.ml.text import (
    DEFAULT_ASPECT_LEXICON,
    clean_texts,
    evaluate_on_holdout,
    extend_lexicon,
    extract_aspects,
    fit_topics,
    labels_from_ratings,
    tokenize,
    train_sentiment_model,
    vader_scores,
)
from customer_assets.ml.text.preprocess import language_resources, mark_negation, token_frame

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
REAL_REVIEWS = SHARED_DATA / "app_reviews" / "shopping_app_reviews.csv"

NOUNS = ["product", "item", "phone case", "blender", "jacket", "lamp", "headphones", "backpack"]
POSITIVE = ["excellent", "great", "good", "amazing", "perfect", "wonderful"]
POSITIVE_TAILS = ["love it", "highly recommend", "works perfectly", "very happy", "best purchase", "five stars"]
NEGATIVE = ["terrible", "awful", "bad", "horrible", "useless", "disappointing"]
NEGATIVE_TAILS = ["broke after a day", "waste of money", "stopped working", "do not buy", "very unhappy",
                  "not good at all", "not worth it", "it is not good"]
NEUTRAL = ["it is ok", "average", "nothing special", "fine i guess", "mediocre", "so so"]


def synthetic_reviews(n: int = 900, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["pos", "neg", "neu"], size=n, p=[0.45, 0.4, 0.15])
    texts, ratings = [], []
    for k in kind:  # building a small fixture corpus, not processing rows
        noun = rng.choice(NOUNS)
        if k == "pos":
            texts.append(f"{rng.choice(POSITIVE)} {noun}, {rng.choice(POSITIVE_TAILS)}")
            ratings.append(rng.choice([4, 5]))
        elif k == "neg":
            texts.append(f"{rng.choice(NEGATIVE)} {noun}, {rng.choice(NEGATIVE_TAILS)}")
            ratings.append(rng.choice([1, 2]))
        else:
            texts.append(f"the {noun} is {rng.choice(NEUTRAL)}")
            ratings.append(3)
    return texts, np.array(ratings)


@pytest.fixture(scope="module")
def synthetic_model():
    # the pipeline's mode: the holdout stays unseen, so evaluate_on_holdout reproduces the report
    texts, ratings = synthetic_reviews()
    return train_sentiment_model(texts, ratings, seed=0, refit_on_all=False)


@pytest.fixture(scope="module")
def real_reviews() -> pl.DataFrame:
    if not REAL_REVIEWS.exists():
        pytest.skip(f"real app reviews absent at {REAL_REVIEWS} (shared data not mounted)")
    return pl.read_csv(REAL_REVIEWS).select("content", "score")


@pytest.fixture(scope="module")
def real_model(real_reviews):
    return train_sentiment_model(real_reviews["content"], real_reviews["score"], seed=0)


# -- preprocessing ---------------------------------------------------------------------------------
def test_polars_tokens_match_nltk_regexp_tokenizer():
    texts = ["I don't like it. Great price!", "Très bien 👍, ÜBER gut", "it's 5 stars; can't complain"]
    frame = token_frame(clean_texts(texts))
    for doc, text in enumerate(texts):
        assert frame.filter(pl.col("doc") == doc)["token"].to_list() == tokenize(text)
    assert tokenize("I don't like it.") == ["i", "don't", "like", "it", "."]


def test_negation_scope_stops_at_contrast_word_and_punctuation():
    tokens = token_frame(clean_texts(["not good but great", "never fast. cheap", "good"]))
    marked = mark_negation(tokens, language_resources("english"))
    negated = dict(zip(zip(marked["doc"].to_list(), marked["token"].to_list()), marked["negated"].to_list()))
    assert negated[(0, "good")] and not negated[(0, "great")]
    assert negated[(1, "fast")] and not negated[(1, "cheap")]
    assert not negated[(2, "good")]


def test_unsupported_language_and_bad_ratings_raise():
    with pytest.raises(ValueError, match="not supported"):
        language_resources("klingon")
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        labels_from_ratings([0, 3, 5])
    with pytest.raises(ValueError, match="missing"):
        labels_from_ratings([1, None, 5])
    texts, ratings = synthetic_reviews(60)
    with pytest.raises(ValueError, match="differ in length"):
        train_sentiment_model(texts, ratings[:-1])
    assert labels_from_ratings([1, 2, 3, 4, 5]).tolist() == ["negative", "negative", "neutral", "positive", "positive"]


# -- sentiment -------------------------------------------------------------------------------------
def test_obvious_sentences_get_the_obvious_label(synthetic_model):
    predicted = synthetic_model.predict(["excellent product, love it", "terrible, broke after a day"])
    assert predicted["sentiment_label"].to_list() == ["positive", "negative"]
    scores = predicted["sentiment_score"].to_list()
    assert scores[0] > 0.3 and scores[1] < -0.3


def test_negation_not_good_is_not_positive(synthetic_model):
    predicted = synthetic_model.predict(["good", "not good"])
    assert predicted["sentiment_label"][1] != "positive"
    assert predicted["sentiment_score"][1] < predicted["sentiment_score"][0]


def test_empty_missing_and_non_text_are_neutral_zero(synthetic_model):
    inputs = ["", None, 42, 3.5, float("nan"), "12345", "   ", "!!!"]
    predicted = synthetic_model.predict(inputs)
    assert predicted.height == len(inputs)
    assert predicted["sentiment_label"].to_list() == ["neutral"] * len(inputs)
    assert predicted["sentiment_score"].to_list() == [0.0] * len(inputs)
    assert synthetic_model.predict([]).height == 0
    with pytest.raises(ValueError, match="single string"):
        synthetic_model.predict("excellent")


def test_unicode_and_very_long_texts(synthetic_model):
    long_positive = ("excellent product, love it. " * 4000)[:100_000]
    inputs = ["Très bien 👍 excellent", "ÜBER schlecht 😡 terrible", long_positive, "x" * 100_000, "ü" * 100_000]
    predicted = synthetic_model.predict(inputs)
    assert predicted.height == len(inputs)
    assert np.isfinite(predicted["sentiment_score"].to_numpy()).all()
    assert predicted["sentiment_label"][2] == "positive"
    assert clean_texts([long_positive], max_chars=1000).str.len_chars()[0] <= 1001


def test_report_has_metrics_baseline_and_primary_metric(synthetic_model):
    report = synthetic_model.report
    assert report["primary_metric"] == "macro_f1"
    assert set(report["engines"]) == {"tfidf_logreg", "vader"}
    assert report["metrics"]["macro_f1"] == report["engines"][report["champion"]]["macro_f1"]
    assert set(report["metrics"]["per_class_f1"]) == {"negative", "neutral", "positive"}
    assert report["n_train"] + report["n_holdout"] == 900
    # the synthetic corpus is easy for a trained model
    assert report["engines"]["tfidf_logreg"]["macro_f1"] > 0.9
    champion = max(report["engines"], key=lambda e: report["engines"][e]["macro_f1"])
    assert report["champion"] == champion == synthetic_model.champion
    import json

    json.dumps(report)  # flat, JSON-serialisable


def test_evaluate_on_holdout_reproduces_report_and_pickle_roundtrip(synthetic_model):
    texts, ratings = synthetic_reviews()
    rows = synthetic_model.holdout_rows
    held_texts = [texts[i] for i in rows]
    metrics = evaluate_on_holdout(synthetic_model, held_texts, ratings[rows])
    assert metrics["macro_f1"] == pytest.approx(synthetic_model.report["metrics"]["macro_f1"])
    restored = pickle.loads(pickle.dumps(synthetic_model))
    probe = ["excellent product", "awful lamp, stopped working", None]
    before, after = synthetic_model.predict(probe), restored.predict(probe)
    assert after["sentiment_label"].to_list() == before["sentiment_label"].to_list()
    np.testing.assert_allclose(after["sentiment_score"].to_numpy(), before["sentiment_score"].to_numpy(), atol=1e-12)


def test_non_english_model_skips_vader_with_a_note():
    rng = np.random.default_rng(1)
    good = ["sehr gut", "ausgezeichnet", "super qualität", "schnelle lieferung"]
    bad = ["sehr schlecht", "nicht gut", "kaputt nach einem tag", "langsame lieferung"]
    labels = rng.integers(0, 2, 200)
    texts = [f"{rng.choice(good if y else bad)}, {rng.choice(good if y else bad)}" for y in labels]
    model = train_sentiment_model(texts, np.where(labels == 1, 5, 1), language="german")
    assert "vader" not in model.report["engines"] and "skipped" in model.report["vader_note"]
    assert model.champion == "tfidf_logreg"
    assert model.predict(["nicht gut"])["sentiment_label"][0] == "negative"


def test_vader_scores_baseline():
    scores = vader_scores(["I love it, excellent!", "This is horrible and I hate it", None, ""])
    assert scores["sentiment_label"].to_list() == ["positive", "negative", "neutral", "neutral"]
    assert scores["compound"][2] == 0.0


# -- aspects ---------------------------------------------------------------------------------------
def test_aspects_on_crafted_sentences():
    texts = [
        "Shipping was slow but the quality is great",
        "Way too expensive. Customer service was rude and unhelpful!",
        "Nice colour.",
        None,
    ]
    rows = extract_aspects(texts)
    found = {(r["doc_index"], r["aspect"]): r["sentiment_label"] for r in rows.iter_rows(named=True)}
    assert found[(0, "shipping")] == "negative"
    assert found[(0, "quality")] == "positive"
    assert found[(1, "price")] == "negative"
    assert found[(1, "service")] == "negative"
    assert not any(doc in (2, 3) for doc, _ in found)
    assert rows.columns == ["doc_index", "aspect", "sentence", "sentiment_label", "sentiment_score"]


def test_aspect_lexicon_is_extendable_and_model_pluggable(synthetic_model):
    lexicon = extend_lexicon(DEFAULT_ASPECT_LEXICON, {"design": ["colour", "colo*r", "design*"]})
    assert "design" in lexicon and lexicon["quality"] == DEFAULT_ASPECT_LEXICON["quality"]
    rows = extract_aspects(["Lovely colour, excellent", "terrible jacket design, broke after a day"],
                           lexicon=lexicon, sentiment_model=synthetic_model)
    design = rows.filter(pl.col("aspect") == "design")
    assert design["doc_index"].to_list() == [0, 1]
    assert design["sentiment_label"].to_list() == ["positive", "negative"]
    with pytest.raises(ValueError, match="English-only"):
        extract_aspects(["Versand war langsam"], language="german")


# -- topics ----------------------------------------------------------------------------------------
TOPIC_WORDS = {
    "delivery": ["delivery", "courier", "parcel", "arrived", "late", "tracking", "package", "driver"],
    "battery": ["battery", "charge", "charger", "power", "drains", "hours", "charging", "cable"],
    "payment": ["payment", "card", "checkout", "refund", "charged", "invoice", "billing", "bank"],
}


def synthetic_topic_texts(n_per_topic: int = 120, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, truth = [], []
    for topic_index, words in enumerate(TOPIC_WORDS.values()):
        for _ in range(n_per_topic):
            texts.append(" ".join(rng.choice(words, size=8)) + " app")
            truth.append(topic_index)
    return texts, np.array(truth)


def topic_purity(assigned: np.ndarray, truth: np.ndarray) -> float:
    table = pl.DataFrame({"a": assigned, "t": truth}).group_by("a", "t").len()
    return table.group_by("a").agg(pl.col("len").max())["len"].sum() / len(truth)


def test_topics_recover_distinct_synthetic_topics():
    texts, truth = synthetic_topic_texts()
    result = fit_topics(texts + [None, "", "12"], k_range=(2, 5), seed=0, stability_seeds=1)
    assigned = result.doc_topics["topic_id"].to_numpy()[: len(truth)]
    assert topic_purity(assigned, truth) > 0.9
    assert result.doc_topics["topic_id"].tail(3).null_count() == 3
    assert result.chosen_k >= 3 and result.coherence["k"].to_list() == [2, 3, 4, 5]
    assert result.coherence["c_v"].is_finite().all() and result.coherence["u_mass"].is_finite().all()
    assert result.topics.columns == ["topic_id", "label", "top_terms", "size"]
    assert result.topics["size"].sum() == len(truth)
    # readable labels: surface words, not stems ("battery", not "batteri")
    labels = " ".join(result.topics["label"].to_list())
    assert "battery" in labels or "delivery" in labels or "payment" in labels
    assert 0 <= result.stability["mean_jaccard"] <= 1
    new = result.assign(["battery charger drains power", None])
    first_battery_doc = len(truth) // 3  # topics are generated in TOPIC_WORDS order
    assert new["topic_id"][0] == result.doc_topics["topic_id"][first_battery_doc]
    assert new["topic_id"][1] is None
    pickle.loads(pickle.dumps(result))


def test_vectorised_lda_inference_matches_gensim():
    from gensim.models import LdaModel

    texts, _ = synthetic_topic_texts(40)
    model = fit_topics(texts, k_range=(3, 3), seed=0, stability_seeds=0).model
    bows = [model.id2word.doc2bow(t.split()) for t in ["batteri charg power", "deliveri courier late", "card"]]
    model.random_state = np.random.RandomState(0)
    gamma, sstats = model.inference(bows, collect_sstats=True)
    model.random_state = np.random.RandomState(0)
    expected_gamma, expected_sstats = LdaModel.inference(model, bows, collect_sstats=True)
    np.testing.assert_allclose(gamma, expected_gamma, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sstats, expected_sstats, rtol=1e-8, atol=1e-10)


# -- no network --------------------------------------------------------------------------------------
def test_whole_pipeline_runs_with_sockets_blocked(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(OSError, match="offline"):
        socket.create_connection(("127.0.0.1", 9))
    texts, ratings = synthetic_reviews(300, seed=3)
    model = train_sentiment_model(texts, ratings, seed=3)
    assert model.predict(["excellent product, love it"])["sentiment_label"][0] == "positive"
    topic_texts, _ = synthetic_topic_texts(40, seed=3)
    assert fit_topics(topic_texts, k_range=(2, 3), stability_seeds=1).chosen_k in (2, 3)
    assert extract_aspects(["Shipping was slow"]).height == 1


# -- real app reviews ----------------------------------------------------------------------------------
def test_real_reviews_model_beats_vader(real_model):
    engines = real_model.report["engines"]
    assert real_model.champion == "tfidf_logreg"
    assert engines["tfidf_logreg"]["macro_f1"] > engines["vader"]["macro_f1"]
    assert real_model.report["binary_accuracy_gain_over_vader"] >= 0.10
    assert engines["tfidf_logreg"]["binary_accuracy"] > 0.85


def test_real_reviews_aspects_with_trained_model(real_model, real_reviews):
    rows = extract_aspects(real_reviews["content"].head(2000), sentiment_model=real_model)
    assert set(rows["aspect"].unique().to_list()) == {"quality", "price", "shipping", "service"}
    # rows from 1-star reviews should lean negative
    stars = real_reviews["score"].head(2000).to_numpy()[rows["doc_index"].to_numpy()]
    assert rows.filter(pl.Series(stars == 1))["sentiment_score"].mean() < 0


def test_stemming_an_empty_token_column_gives_an_empty_column():
    from customer_assets.ml.text.preprocess import SnowballStems

    stems = SnowballStems("english").stem_series(pl.Series("token", [], dtype=pl.String))
    assert stems.dtype == pl.String and stems.is_empty()
    assert SnowballStems("english").stem_series(pl.Series("token", ["running", "runs"])).to_list() == ["run", "run"]
