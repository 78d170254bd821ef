"""The walkthrough (docs/walkthrough/, docs/walkthrough.html) is exactly what its generator makes from
the code and the committed measurements; every bridge and slip has its card and its measurement; the
ablation switches are the registry's. Nothing here trains."""

import dataclasses
import json
import re

import pytest

from parity.bridges import ABLATIONS, BRIDGES
from parity.walkthrough import DOCS, HTML, PAGES, PAGES_DIR, ROOT, entries_for, find, generate
from parity.walkthrough_inputs import PROSE, ProseError, load_prose
from shared.spec import AblateSpec, load_spec


@pytest.fixture(scope="module")
def generated():
    return generate()


def test_the_committed_pages_are_what_the_generator_makes(generated):
    stale = [
        str(path.relative_to(ROOT))
        for path, text in generated.items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"stale: {stale}; run python -m parity.walkthrough and commit the pages"
    committed = {p for p in PAGES_DIR.glob("*.md")}
    assert committed == {p for p in generated if p.suffix == ".md"}  # no orphan page


def test_every_stage_has_its_page_and_every_function_is_real(generated):
    stages = [p.stage for p in PAGES]
    assert stages == [
        "data",
        "split",
        "loading and batches",
        "tensors and layout",
        "normalization",
        "augmentation",
        "model",
        "training loop",
        "evaluation",
        "convolution",
    ]
    for page in PAGES:
        for ref in (r for pair in page.code for r in pair if r):
            file, first, last, lines = find(ref)
            assert lines and first <= last
            text = generated[PAGES_DIR / f"{page.slug}.md"]
            assert f"[`{file}`](../../{file}#L{first}-L{last})" in text


def test_every_bridge_and_slip_has_a_card_and_a_measurement(generated):
    measured = json.loads((DOCS / "ablations.json").read_text())["quick"]["ablations"]
    assert set(measured) == set(ABLATIONS)
    for name, entry in ABLATIONS.items():
        (page,) = [p for p in PAGES if entry in entries_for(p.stage)]
        text = generated[PAGES_DIR / f"{page.slug}.md"]
        assert f"`--ablate {name}`" in text, name
        assert measured[name]["exit"] in (0, 1), (name, measured[name].get("error"))
    control = measured["flatten-order"]
    assert control["exit"] == 0 and control["probe"]["passed"]  # the null control changes nothing


def test_the_bridging_lines_are_marked(generated):
    text = generated[PAGES_DIR / "05-normalization.md"]
    assert re.search(r"Bridging lines: .*line \d+ \(`\[normalize-std\]`\)", text)
    html = generated[HTML]
    assert html.count('class="hll"') >= len(BRIDGES)  # highlighted in the two columns


def test_the_html_is_self_contained(generated):
    html = generated[HTML]
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert 'src="data:image/png;base64,' in html
    assert html.count('class="side keras"') == html.count('class="side torch"') == len(PAGES)


def test_the_prose_file_names_what_it_cannot_read(tmp_path):
    text = PROSE.read_text()
    for old, new, said in [
        (
            'slug = "02-split"\n',
            'slug = "02-split"\nsubtitle = "x"\n',
            "02-split: unknown key subtitle",
        ),
        (
            'shared = "shared/splits.py:load_splits"',
            'shared = "shared/splits.py:load_splits"\ntorch = "torch_impl/data.py:EpochOrders"',
            "02-split: a [[page.code]] row",
        ),
    ]:
        assert text.count(old) == 1
        broken = tmp_path / "pages.toml"
        broken.write_text(text.replace(old, new))
        with pytest.raises(ProseError, match=re.escape(said)):
            load_prose(broken)


def test_the_ablation_switches_are_the_registry(tmp_path):
    fields = {f.name for f in dataclasses.fields(AblateSpec)}
    assert fields == {entry.switch for entry in ABLATIONS.values()}
    assert not any(dataclasses.asdict(load_spec().ablate).values())  # all off by default


@pytest.mark.slow
def test_an_ablation_is_asked_in_the_audit(tmp_path, compare_cli):
    out = tmp_path / "audit"
    done = compare_cli("--audit", "--ablate", "adam-epsilon", "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = {r["id"]: r for r in json.loads((out / "audit.json").read_text())["rows"]}
    assert rows["optimizer.epsilon_placement"]["status"] == "asked"
    assert "added to the bias-corrected" in str(rows["optimizer.epsilon_placement"]["torch"])
