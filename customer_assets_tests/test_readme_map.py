"""The README's table -> code map names real assets and files, and misses no table the graph writes."""

import re
from pathlib import Path

from customer_assets.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \| \[[^]]+\]\(([^)]+)\) \|$")


def _rows():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Table → code"):readme.index("## Configuration")]
    return [m.groups() for line in section.splitlines() if (m := ROW.match(line))]


def test_every_row_points_at_a_real_asset_file_and_page(settings):
    keys = {k.to_user_string() for k in build_definitions(settings).resolve_asset_graph().get_all_asset_keys()}
    rows = _rows()
    assert len(rows) >= 15
    for table, key, code, page in rows:
        wanted = {key.replace("<table>", t) for t in ("customers", "orders")} if "<table>" in key else {key}
        assert wanted <= keys, (table, key)
        assert (REPO / code).is_file(), code
        assert (REPO / page).is_file(), page


def test_every_table_the_graph_writes_is_in_the_map(settings):
    keys = {k.to_user_string() for k in build_definitions(settings).resolve_asset_graph().get_all_asset_keys()}
    mapped = {key for _, key, _, _ in _rows()}
    tables = {k for k in keys if k.startswith("marts/")}
    tables |= {"online_snapshot"}
    assert tables <= mapped, sorted(tables - mapped)


def test_one_key_scheme_a_warehouse_table_schema_dot_name_is_asset_schema_slash_name():
    rows = [(table, key) for table, key, _, _ in _rows() if re.fullmatch(r"(raw|staging|intermediate|marts)\.\w+", table)]
    assert len(rows) >= 15
    for table, key in rows:
        assert key == table.replace(".", "/"), (table, key)
