"""The reviews domain's documented settings do what the README says."""

import json

import pytest

from customer_assets.defs.review.assets import review_knobs
from customer_assets.ml.text import DEFAULT_ASPECT_LEXICON


def test_the_documented_aspect_lexicon_setting_extends_the_default(tmp_path, monkeypatch):
    extra = tmp_path / "lexicon.json"
    extra.write_text(json.dumps({"app": ["app", "crash*"]}))
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_ASPECT_LEXICON", str(extra))
    lexicon = review_knobs().lexicon()
    assert lexicon["app"] == ["app", "crash*"] and lexicon["quality"] == DEFAULT_ASPECT_LEXICON["quality"]


def test_a_bad_lexicon_file_is_a_clear_error_naming_the_setting(tmp_path, monkeypatch):
    bad = tmp_path / "lexicon.json"
    bad.write_text("[1, 2]")
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_ASPECT_LEXICON", str(bad))
    with pytest.raises(ValueError, match="CUSTOMER_ML_REVIEW_ASPECT_LEXICON=.*expected"):
        review_knobs().lexicon()
    monkeypatch.delenv("CUSTOMER_ML_REVIEW_ASPECT_LEXICON")
    assert review_knobs().lexicon() == DEFAULT_ASPECT_LEXICON
