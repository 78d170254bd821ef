"""The bridge registry (parity/bridges.py): code tags and registry agree both ways, and the
differences table of docs/differences.md is the registry's."""

from pathlib import Path

from parity.bridges import BRIDGES, ROOT, code_tags, markdown_table


def test_every_bridge_is_tagged_where_it_says_and_every_tag_is_registered():
    tags = code_tags()
    assert set(tags) == {b.id for b in BRIDGES}
    for bridge in BRIDGES:
        assert tags[bridge.id] == set(bridge.files), bridge.id


def test_a_bridging_line_that_loses_its_tag_is_caught(tmp_path):
    for side in ("keras", "torch"):
        for path in (ROOT / f"{side}_impl").glob("*.py"):
            target = tmp_path / f"{side}_impl" / path.name
            target.parent.mkdir(exist_ok=True)
            target.write_text(path.read_text().replace("[init-bias]", "").replace("x", "x"))
    assert "init-bias" not in code_tags(tmp_path)


def test_the_differences_page_table_is_the_registry():
    page = (Path(ROOT) / "docs" / "differences.md").read_text()
    assert markdown_table() in page
