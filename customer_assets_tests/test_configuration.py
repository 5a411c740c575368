"""One settings mechanism: typed sections read from the environment, clear errors, a generated reference."""

import dataclasses
import os
import re
from pathlib import Path

import pytest

from customer_assets.config import SECTIONS, SettingsError, env_name, import_sections, read_section, reference_markdown

REPO = Path(__file__).resolve().parents[1]


def _sections():
    import_sections()
    return SECTIONS


def test_the_reference_in_docs_is_the_generated_one():
    stored = (REPO / "docs" / "configuration.md").read_text()
    assert stored == reference_markdown(), "run: .venv/bin/python -m customer_assets.config > docs/configuration.md"


def test_every_section_setting_the_docs_name_exists():
    known = {env_name(cls, f) for cls in _sections().values() for f in dataclasses.fields(cls)}
    prefixes = tuple(f"CUSTOMER_ML_{p}_" for p in _sections())
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    text = "\n".join(p.read_text() for p in pages if p.name != "configuration.md")
    named = set(re.findall(r"CUSTOMER_ML_[A-Z0-9_]*[A-Z0-9]", text))
    # README shortens a family of names as `CUSTOMER_ML_REVIEW_TOPICS_K_MIN`, `_TOPICS_K_MAX`: only full names count.
    unknown = sorted(n for n in named if n.startswith(prefixes) and n not in known)
    assert not unknown, f"documented but read by nothing: {unknown}"


def test_bad_values_name_the_variable(monkeypatch):
    churn = _sections()["CHURN"]
    cases = {"CUSTOMER_ML_CHURN_SEARCH_SECONDS": ("soon", "not a number"),
             "CUSTOMER_ML_CHURN_N_SPLITS": ("2.5", "not a whole number"),
             "CUSTOMER_ML_CHURN_PURCHASE_FEATURES": ("maybe", "not one of auto, off"),
             "CUSTOMER_ML_CHURN_REASONS_TOP_SHARE": ("1.5", "above its maximum"),
             "CUSTOMER_ML_CHURN_WINDOW_DAYS": ("0", "below its minimum")}
    for name, (value, words) in cases.items():
        with pytest.raises(SettingsError, match=re.escape(name) + ".*" + words):
            read_section(churn, {name: value})
    recommend = _sections()["RECOMMEND"]
    with pytest.raises(SettingsError, match="CUSTOMER_ML_RECOMMEND_INCLUDE_SEEN='perhaps' is not a boolean"):
        read_section(recommend, {"CUSTOMER_ML_RECOMMEND_INCLUDE_SEEN": "perhaps"})
    with pytest.raises(SettingsError, match="CUSTOMER_ML_RECOMMEND_MODEL_PARAMS.*JSON object"):
        read_section(recommend, {"CUSTOMER_ML_RECOMMEND_MODEL_PARAMS": "[1]"})


def test_values_are_typed_and_empty_keeps_the_default():
    churn, segmentation = _sections()["CHURN"], _sections()["SEGMENTATION"]
    knobs = read_section(churn, {"CUSTOMER_ML_CHURN_FAMILIES": " logistic , lightgbm ",
                                 "CUSTOMER_ML_CHURN_PURCHASE_FEATURES": "OFF", "CUSTOMER_ML_CHURN_SEED": ""})
    assert knobs.families == ("logistic", "lightgbm") and knobs.purchase_features == "off" and knobs.seed == 0
    # Older documented names are kept where they differ from the derived one.
    seg = read_section(segmentation, {"CUSTOMER_ML_SEGMENTATION_SAMPLE_SIZE": "500",
                                      "CUSTOMER_ML_SEGMENT_MAX_SHARE_SHIFT": "0.2"})
    assert seg.quadratic_sample_size == 500 and seg.max_share_shift == 0.2
    assert read_section(_sections()["RECOMMEND"], {"CUSTOMER_ML_RECOMMEND_INCLUDE_SEEN": "yes"}).include_seen is True


# Environment reads outside the settings module that are not settings: a child process's environment or a tool's
# own variable. Anything else must be a section field.
NOT_SETTINGS = {
    "customer_assets/cli.py": "DAGSTER_HOME, Dagster's own variable",
    "customer_assets/defs/dbt/assets.py": "PATH, so dbt finds the venv's executables",
    "customer_assets/evaluation/__init__.py": "CUSTOMER_ML_SHARED_DATA, the evaluation harness's data path",
    "customer_assets/notebook.py": "JUPYTER_PATH and the notebook's switch, handed to the kernel",
}


def test_no_module_but_the_settings_one_reads_a_setting():
    readers = set()
    for path in sorted([*(REPO / "customer_assets").rglob("*.py"), *(REPO / "bentos").rglob("*.py")]):
        relative = path.relative_to(REPO).as_posix()
        if relative != "customer_assets/config.py" and re.search(r"os\.environ\.get|os\.getenv", path.read_text()):
            readers.add(relative)
    assert readers <= set(NOT_SETTINGS), sorted(readers - set(NOT_SETTINGS))


def test_building_definitions_for_two_homes_leaves_the_process_environment_alone(tmp_path):
    import mlflow

    from customer_assets.definitions import build_definitions
    from customer_assets_tests.conftest import make_settings

    environ, global_uri = dict(os.environ), mlflow.get_tracking_uri()
    first = build_definitions(make_settings(tmp_path / "a"))
    second = build_definitions(make_settings(tmp_path / "b", warehouse_url="postgresql://u:p@127.0.0.1:5432/other"))
    assert dict(os.environ) == environ and mlflow.get_tracking_uri() == global_uri
    # Each home's dbt resource carries its own profile and variables instead.
    dbt_a, dbt_b = first.resources["dbt"], second.resources["dbt"]
    assert dbt_a.profiles_dir != dbt_b.profiles_dir and (dbt_a.target, dbt_b.target) == ("duckdb", "postgres")
    profile = (tmp_path / "b" / "dbt" / "profiles.yml")
    assert "dbname: other" in profile.read_text() and oct(profile.stat().st_mode & 0o777) == "0o600"
    assert str(tmp_path / "a" / "warehouse.duckdb") in (tmp_path / "a" / "dbt" / "profiles.yml").read_text()
