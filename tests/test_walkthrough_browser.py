"""docs/walkthrough.html as a classroom sees it: in headless Chromium at a projector's 1280 x 800,
no code block scrolls sideways and code is at least 16 px; the column headers stay in view while a
page's code scrolls; each difference card takes its side's column colour; printed, every code line
is on paper. Skipped, saying which, where chromium (Debian: apt-get install chromium) or pdftotext
(apt-get install poppler-utils) is not on PATH.

    WALKTHROUGH_HTML=OTHER.html python -m pytest tests/test_walkthrough_browser.py -n 0
checks another copy of the page (an older one, say: git show HEAD~3:docs/walkthrough.html).
tools/screenshot_walkthrough.sh renders the same page to a PNG (or a PDF) to look at.
"""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from parity.bridges import ABLATIONS
from parity.walkthrough import HTML, PAGES

PAGE = Path(os.environ.get("WALKTHROUGH_HTML", HTML))
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium on PATH (Debian: apt-get install chromium)"
)
pytestmark = pytest.mark.xdist_group("walkthrough-browser")  # one worker renders the page once

# Appended to a copy of the page: measures it once loaded and leaves the figures in the DOM, which
# --dump-dom prints. The page itself holds no script.
MEASURE = """<script>
window.addEventListener("load", function () {
  var px = function (el, key) { return parseFloat(getComputedStyle(el)[key]); };
  var pres = Array.from(document.querySelectorAll("pre")).map(function (pre) {
    return {scrollWidth: pre.scrollWidth, clientWidth: pre.clientWidth,
            fontSize: px(pre, "fontSize"), text: pre.textContent.slice(0, 60)};
  });
  var sticky = Array.from(document.querySelectorAll("table.sides")).filter(function (table) {
    return table.querySelector("thead th");
  }).map(function (table) {
    var th = table.querySelector("thead th"), box = table.getBoundingClientRect();
    window.scrollTo(0, window.scrollY + box.top + (box.height - 200) / 2);  // into its code
    var top = th.getBoundingClientRect().top, bottom = table.getBoundingClientRect().bottom;
    window.scrollTo(0, 0);
    return {header: top, table_bottom: bottom, height: box.height};
  });
  var colour = function (selector, key) {
    var el = document.querySelector(selector);
    return el ? getComputedStyle(el)[key] : null;
  };
  var cards = Array.from(document.querySelectorAll(".card")).map(function (card) {
    return {id: card.id, border: getComputedStyle(card).borderLeftColor};
  });
  var out = document.createElement("script");
  out.type = "application/json";
  out.id = "measured";
  out.textContent = JSON.stringify({
    viewport: [window.innerWidth, window.innerHeight], pres: pres, sticky: sticky, cards: cards,
    columns: {keras: colour("th.side.keras", "backgroundColor"),
              torch: colour("th.side.torch", "backgroundColor")}});
  document.body.appendChild(out);
});
</script>
"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """The page's figures in Chromium at 1280 x 800."""
    copy = tmp_path_factory.mktemp("browser") / "walkthrough.html"
    copy.write_text(PAGE.read_text() + MEASURE)
    dom = chromium(
        "--window-size=1280,800", "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()
    ).stdout
    found = re.search(r'<script type="application/json" id="measured">(.*?)</script>', dom, re.S)
    assert found, "the measuring script wrote nothing (a script error?)"
    figures = json.loads(html.unescape(found.group(1)))
    assert figures["viewport"][0] == 1280
    return figures


def code_lines(page: str) -> list[str]:
    """Every line of the code columns, its line number included, as the page shows it."""
    lines = []
    for block in re.findall(r'<div class="highlight"><pre>(.*?)</pre>', page, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", block))
        lines += [line for line in text.split("\n") if line.strip()]
    return lines


@needs_chromium
def test_no_code_block_scrolls_sideways_at_1280_px(measured):
    pres = measured["pres"]
    assert len(pres) >= len(PAGES)
    wide = [p for p in pres if p["scrollWidth"] > p["clientWidth"] + 1]
    assert not wide, (
        f"{len(wide)} of {len(pres)} code blocks scroll sideways at 1280 px (scrollWidth - "
        f"clientWidth up to {max(p['scrollWidth'] - p['clientWidth'] for p in wide)} px), "
        f"first: {wide[0]['text']!r}"
    )


@needs_chromium
def test_code_is_at_least_16_px_at_1280_px(measured):
    sizes = sorted({p["fontSize"] for p in measured["pres"]})
    assert sizes and sizes[0] >= 16, f"code at {sizes} px; a projector needs 16 px or more"


@needs_chromium
def test_the_column_headers_stay_in_view_over_a_pages_code(measured):
    tall = [t for t in measured["sticky"] if t["height"] > 1000]
    assert tall, "no page's code is taller than the screen"
    for table in tall:
        assert table["table_bottom"] > 0
        assert abs(table["header"]) <= 1, (
            f"the Keras | PyTorch header is at {table['header']:.0f} px, out of view, halfway down "
            "a page's code: it should stick to the top (position: sticky)"
        )


@needs_chromium
def test_each_difference_card_takes_its_sides_column_colour(measured):
    columns = measured["columns"]
    assert columns["keras"] != columns["torch"]
    borders = {card["id"]: card["border"] for card in measured["cards"]}
    for name, entry in ABLATIONS.items():
        assert borders.get(f"card-{name}") == columns[entry.side], (
            f"the card of {name} (--ablate changes the {entry.side} side) is not in that "
            f"column's colour {columns[entry.side]}: {borders.get(f'card-{name}')}"
        )


@pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="needs pdftotext on PATH to read the printed page (Debian: apt-get install poppler-utils)",
)
@needs_chromium
def test_printed_every_code_line_is_on_paper(tmp_path):
    pdf = tmp_path / "walkthrough.pdf"
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", PAGE.as_uri())
    text = subprocess.run(
        ["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    on_paper = re.sub(r"\s+", "", text)
    lines = code_lines(PAGE.read_text())
    assert len(lines) > 100
    missing = [line for line in lines if re.sub(r"\s+", "", line) not in on_paper]
    pages = text.count("\f")
    assert not missing, (
        f"{len(missing)} of {len(lines)} code lines are cut from the {pages} printed pages, "
        f"first: {missing[0].strip()!r}"
    )


@needs_chromium
def test_the_html_renders_in_a_headless_browser(tmp_path):
    """The documented screenshot check (tools/screenshot_walkthrough.sh does the same): below the
    first Keras | PyTorch header, both columns hold drawn code."""
    from PIL import Image

    shot = tmp_path / "walkthrough.png"
    chromium("--hide-scrollbars", "--window-size=1600,2400", f"--screenshot={shot}", PAGE.as_uri())
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        keras_header = next(
            (y for y in range(height) if rgb.getpixel((width // 4, y)) == (183, 28, 28)), None
        )
        assert keras_header is not None, "no Keras column header drawn"
        assert rgb.getpixel((3 * width // 4, keras_header)) == (26, 71, 168)  # PyTorch's, beside
        top, bottom = keras_header + 80, min(keras_header + 700, height)
        left = rgb.crop((60, top, width // 2 - 20, bottom)).getcolors(1 << 16)
        right = rgb.crop((width // 2 + 20, top, width - 60, bottom)).getcolors(1 << 16)
    assert left and right and len(left) > 20 and len(right) > 20  # two drawn columns, not blank


def test_every_page_links_to_the_previous_and_the_next():
    page = PAGE.read_text()
    slugs = [p.slug for p in PAGES] + ["costs"]
    for before, here, after in zip([None, *slugs], slugs, [*slugs[1:], None]):
        section = page.split(f'<section class="stage" id="{here}">', 1)[-1]
        if here == "costs":
            section = page.split('<section id="costs">', 1)[-1]
        section = section.split("</section>", 1)[0]
        navs = re.findall(r'<nav class="pager">(.*?)</nav>', section, re.S)
        assert len(navs) == 2, f"{here}: a previous / next bar at its top and at its end"
        for nav in navs:
            assert '<a href="#contents">' in nav
            for neighbour in (before, after):
                if neighbour:
                    assert f'<a href="#{neighbour}">' in nav, f"{here}: no link to {neighbour}"


def test_the_shape_tables_have_the_markdown_tables_columns():
    from parity.walkthrough import PAGES_DIR

    page = PAGE.read_text()
    markdown = (PAGES_DIR / "05-normalization.md").read_text()
    header = re.search(r"^\| stage \|.*\|$", markdown, re.M).group(0)
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert "range" in columns
    html_header = "".join(f"<th>{c}</th>" for c in columns)
    assert page.count(html_header) == 2 * sum(1 for p in PAGES if p.shapes)
