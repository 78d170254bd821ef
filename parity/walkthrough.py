"""The parity walkthrough: one page per pipeline stage, both frameworks side by side, generated from
the code, the bridge registry, the mirror check and committed measurement files.

    python -m parity.walkthrough             # docs/walkthrough/*.md and docs/walkthrough.html
    python -m parity.walkthrough --measure   # first measure dtypes, shapes and the warped digit again
                                             # (parity/stage_shapes.py, each side in its own process)
    python -m parity.ablations               # the measured ablations the cards quote
    python -m parity.exercises               # the measured answers of the pages' "Try this"

The prose (titles, concepts, introductions, which code each page shows, the exercises) is
docs/walkthrough-data/pages.toml; the HTML page's layout is parity/templates/walkthrough.html.j2;
this module puts them together.

tests/test_walkthrough.py regenerates the pages, training nothing, and fails when a committed page
differs: a page cannot drift from the code it shows.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from parity import stage_shapes
from parity.bridges import ABLATIONS, ROOT, Bridge, Slip
from parity.exercises import exercises_markdown
from parity.walkthrough_inputs import (
    DOCS,
    INDEX,
    MEASURED,
    PAGES,
    Page,
    bridging_lines,
    entries_for,
    failed_checks,
    find,
    load_measurements,
    measured_cost,
    one_sided_reason,
    probe_finding,
    sweep_findings,
    tag_locations,
)
from shared.results import SIDE_LABELS, SIDES

PAGES_DIR = DOCS / "walkthrough"
HTML = DOCS / "walkthrough.html"
TEMPLATES = Path(__file__).with_name("templates")

# -- Markdown ------------------------------------------------------------------------------------


def code_markdown(ref: str | None, side: str, depth: int) -> list[str]:
    if ref is None:
        return [f"**{SIDE_LABELS[side]}**: no counterpart (see the other side's reason)."]
    file, first, last, lines = find(ref)
    link = "../" * depth + f"{file}#L{first}-L{last}"
    out = [
        f"**{SIDE_LABELS.get(side, side)}**: `{ref.split(':')[1]}`, [`{file}`]({link}) lines {first}-{last}"
    ]
    if reason := one_sided_reason(ref):
        out.append(f"> one side only: {reason}")
    out += ["", "```python", *lines, "```"]
    marks = bridging_lines(lines, first)
    if marks:
        out.append(
            "Bridging lines: "
            + ", ".join(f"line {n} ({', '.join(f'`[{t}]`' for t in tags)})" for n, tags in marks)
        )
    return out


def shapes_markdown(page: Page, stages: dict) -> list[str]:
    if not page.shapes:
        return []
    out = ["## Dtype and shape, measured on real digits", ""]
    for side in SIDES:
        rows = [r for r in stages[side]["stages"] if any(w in r["stage"] for w in page.shapes)]
        out += [
            f"**{SIDE_LABELS[side]}**",
            "",
            "| stage | dtype | shape | range |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {r['stage']} | {r['dtype']} | ({', '.join(map(str, r['shape']))}) | "
            f"{r['range'][0]:g} to {r['range'][1]:g} |"
            for r in rows
        ]
        out.append("")
    return out


def card_markdown(entry: Bridge | Slip, tags: dict, ablations: dict) -> list[str]:
    if isinstance(entry, Bridge):
        where = ", ".join(f"`{loc}`" for loc in tags.get(entry.id, [])) or "-"
        out = [
            f"### `[{entry.id}]`",
            "",
            "| | |",
            "|---|---|",
            f"| Keras default | {entry.keras_default} |",
            f"| PyTorch default | {entry.torch_default} |",
            f"| bridged to | {entry.bridged} |",
            f"| bridging lines | {where} |",
            f"| without it | {entry.why} |",
        ]
    else:
        kind = "a null control: it must change no number" if entry.control else "a porting slip"
        out = [f"### `{entry.id}` ({kind})", "", entry.what[0].upper() + entry.what[1:] + "."]
    out += [
        "",
        f"Measured with this {'bridge off' if isinstance(entry, Bridge) else 'change'} on the "
        f"{SIDE_LABELS[entry.side]} side (`--ablate {entry.id}`, quick configuration, one seed, "
        f"{entry.mode} mode):",
        "",
    ]
    out += [f"- {line}" for line in measured_cost(entry.id, ablations)]
    return out + [""]


def page_markdown(page: Page, stages: dict, ablations: dict, tags: dict) -> str:
    out = [
        f"# {page.title}",
        "",
        f"[All stages](index.md) | {page.topics}",
        "",
        "## The idea",
        "",
        page.concept,
        "",
        *shapes_markdown(page, stages),
        "## The code, both sides",
        "",
        page.text,
        "",
    ]
    for keras_ref, torch_ref in page.code:
        if torch_ref is None and keras_ref and keras_ref.startswith("shared/"):
            out += code_markdown(keras_ref, "both sides (shared/)", 2) + [""]
            continue
        out += (
            code_markdown(keras_ref, "keras", 2)
            + [""]
            + code_markdown(torch_ref, "torch", 2)
            + [""]
        )
    if page.image:
        out += [f"![{page.alt}](../walkthrough-data/{page.image})", ""]
    cards = entries_for(page.stage)
    if cards:
        out += ["## The framework differences met here", ""]
        for entry in cards:
            out += card_markdown(entry, tags, ablations)
    out += exercises_markdown(page)
    return "\n".join(out).rstrip() + "\n"


SWEEP_HEADING = "## What each difference costs: the ablation sweep"


def index_markdown(ablations: dict) -> str:
    quick = ablations.get("quick", {})
    out = [
        f"# {INDEX['title']}",
        "",
        INDEX["intro"],
        "",
        *[f"{i}. [{p.title}]({p.slug}.md)" for i, p in enumerate(PAGES, 1)],
        "",
        SWEEP_HEADING,
        "",
        INDEX["sweep"],
        "",
        "| ablation | kind | side | the probe finds first | checks that fail | exit | 10 epochs: checks that fail |",
        "|---|---|---|---|---|---|---|",
    ]
    full = ablations.get("full", {})
    for name, entry in ABLATIONS.items():
        result = quick.get("ablations", {}).get(name, {})
        probe = result.get("probe")
        first = probe_finding(probe) if probe else "-"
        kind = "control" if getattr(entry, "control", False) else type(entry).__name__.lower()
        in_full = full.get("ablations", {}).get(name)
        out.append(
            f"| `{name}` | {kind} | {entry.side} | {first} | {failed_checks(result)} | "
            f"{result.get('exit', '-')} | {failed_checks(in_full) if in_full else '-'} |"
        )
    out += ["", "In the quick configuration:", "", *sweep_findings(quick)]
    if full:
        out += ["", "In the default configuration (10 epochs):", "", *sweep_findings(full)]
    for section in (quick, full):
        provenance = section.get("provenance", {})
        for run in provenance.get("runs", []):
            dirty = " with uncommitted changes" if run["uncommitted_changes"] else ""
            out += [
                "",
                f"Measured by `{run['command']}` at commit `{run['commit'][:12]}`{dirty} on "
                f"{run['date']} ({provenance['machine']}).",
            ]
    return "\n".join(out).rstrip() + "\n"


# -- HTML ----------------------------------------------------------------------------------------


def highlighted(lines: list[str], first: int, marks: list[int]) -> str:
    import re

    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    formatter = HtmlFormatter(
        linenos="inline", linenostart=first, hl_lines=[n - first + 1 for n in marks], linespans="L"
    )
    code = highlight("\n".join(lines) + "\n", PythonLexer(), formatter)
    # one block per source line (the template wraps long lines under their number), without ids
    # that would repeat across the page's cuts
    return re.sub(r'<span id="L-\d+">', '<span class="line">', code)


def bridge_notes(lines: list[str], first: int) -> list[dict]:
    """The bridging comments of a cut, shown whole under its code: each tagged line's comment with
    the comment lines that continue it, and the code it stands beside, [{"first", "last", "code",
    "html"}], each tag in it a link to its card."""
    import html

    from parity.bridges import TAG

    notes, i = [], 0
    while i < len(lines):
        found = TAG.search(lines[i])
        if not found:
            i += 1
            continue
        start = i
        code = lines[i][: found.start()].strip()
        text = [lines[i][found.start() + 1 :]]
        # a comment block goes on to its end, any tags inside it joining the note
        while i + 1 < len(lines) and lines[i + 1].strip().startswith("#"):
            if code and TAG.search(lines[i + 1]):
                break  # after a code line, a tagged comment line is a note of its own
            i += 1
            text.append(lines[i].strip()[1:])
        said = html.escape(" ".join(" ".join(text).split()), quote=False)
        for tag in dict.fromkeys(t for line in lines[start : i + 1] for t in TAG.findall(line)):
            link = f'<a class="tag" href="#card-{tag}">[{tag}]</a>'  # to the difference's card
            said = said.replace(f"[{tag}]", link)
        notes.append({"first": first + start, "last": first + i, "code": code, "html": said})
        i += 1
    return notes


def markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def html_cell(ref: str | None, side: str) -> dict:
    if ref is None:
        return {
            "side": side,
            "label": SIDE_LABELS.get(side, side),
            "note": "no counterpart: see the other side's reason",
        }
    file, first, last, lines = find(ref)
    marks = [n for n, _ in bridging_lines(lines, first)]
    return {
        "side": side,
        "label": SIDE_LABELS.get(side, "both sides"),
        "notes": bridge_notes(lines, first),
        "title": ref.split(":")[1],
        "file": file,
        "first": first,
        "last": last,
        "reason": one_sided_reason(ref),
        "code": highlighted(lines, first, marks),
    }


def page_html(page: Page, stages: dict, ablations: dict, tags: dict) -> dict:
    pairs = []
    for keras_ref, torch_ref in page.code:
        if torch_ref is None and keras_ref and keras_ref.startswith("shared/"):
            shared = html_cell(keras_ref, "shared")
            shared["title"] += ", in shared/: both sides call it"
            pairs.append([shared])
        else:
            pairs.append([html_cell(keras_ref, "keras"), html_cell(torch_ref, "torch")])
    shapes = []
    if page.shapes:
        shapes = [
            [r for r in stages[side]["stages"] if any(w in r["stage"] for w in page.shapes)]
            for side in SIDES
        ]
    image = None
    if page.image:
        image = base64.b64encode((MEASURED / page.image).read_bytes()).decode()
    cards = [
        {
            "id": e.id,
            # in the colour of the side whose code its ablation changes
            "side": e.side if e.side in SIDES else "shared",
            "label": f"--ablate changes the {SIDE_LABELS.get(e.side, e.side)} side",
            "html": markdown_to_html(
                "\n".join(card_markdown(e, tags, ablations)).replace("### ", "#### ")
            ),
        }
        for e in entries_for(page.stage)
    ]
    return {
        "slug": page.slug,
        "title": page.title,
        "topics": page.topics,
        "text_html": markdown_to_html(page.text),
        "concept_html": markdown_to_html(page.concept),
        "exercises_html": markdown_to_html("\n".join(exercises_markdown(page))),
        "pairs": pairs,
        "shapes": shapes,
        "image": image,
        "alt": page.alt,
        "cards": cards,
    }


def render_html(stages: dict, ablations: dict, tags: dict) -> str:
    import jinja2
    from pygments.formatters import HtmlFormatter

    loader = jinja2.FileSystemLoader(TEMPLATES)
    template = jinja2.Environment(autoescape=False, loader=loader).get_template(
        "walkthrough.html.j2"
    )
    index = index_markdown(ablations).split(SWEEP_HEADING, 1)[1]
    return template.render(
        pygments_css=HtmlFormatter().get_style_defs(".highlight"),
        pages=[page_html(p, stages, ablations, tags) for p in PAGES],
        index_html=markdown_to_html(index),
    )


def generate() -> dict[Path, str]:
    """Every generated file and its text, from the code and the committed measurements."""
    stages, ablations = load_measurements()
    tags = tag_locations()
    files = {PAGES_DIR / "index.md": index_markdown(ablations)}
    for page in PAGES:
        files[PAGES_DIR / f"{page.slug}.md"] = page_markdown(page, stages, ablations, tags)
    files[HTML] = render_html(stages, ablations, tags)
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.walkthrough", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--measure", action="store_true", help="measure the stages and the picture again first"
    )
    args = parser.parse_args(argv)
    if args.measure:
        stage_shapes.measure(MEASURED)
    for path, text in generate().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
