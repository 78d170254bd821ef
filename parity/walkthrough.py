"""The parity walkthrough: one page per pipeline stage, both frameworks side by side, generated from
the code, the bridge registry, the mirror check and committed measurement files.

    python -m parity.walkthrough             # docs/walkthrough/*.md and docs/walkthrough.html
    python -m parity.walkthrough --measure   # first measure dtypes, shapes and the warped digit again
                                             # (each framework in its own process)
    python -m parity.ablations               # the measured ablations the cards quote

tests/test_walkthrough.py regenerates the pages, training nothing, and fails when a committed page
differs: a page cannot drift from the code it shows.
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from parity.bridges import ABLATIONS, BRIDGES, SLIPS, TAG, Bridge, Slip
from parity.mirror import ONE_SIDED
from parity.runner import ROOT
from shared.results import SIDE_LABELS, SIDES

DOCS = ROOT / "docs"
PAGES_DIR = DOCS / "walkthrough"
MEASURED = DOCS / "walkthrough-data"
HTML = DOCS / "walkthrough.html"


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    stage: str  # the registry's stage name: the cards of this page
    topics: str
    text: str
    code: tuple[tuple[str | None, str | None], ...]  # ("file:Name" keras, "file:Name" torch)
    shapes: tuple[str, ...]  # words that select the measured stages shown


PAGES = (
    Page(
        "01-data",
        "Data",
        "data",
        "what MNIST is and why it comes first (Q5-Q6); the five steps of a first project (Q7)",
        "MNIST is 70,000 handwritten digits, 28 x 28 pixels of 0-255, with their labels 0-9. Both "
        "sides read the same four IDX files through one loader in `shared/`, which checks their "
        "SHA-256: there is nothing to compare here except that both start from the same bytes.",
        (("shared/mnist.py:load_mnist", None),),
        ("raw",),
    ),
    Page(
        "02-split",
        "Split",
        "split",
        "training, validation and test data, and why each exists (Q31-Q37)",
        "The 60,000 training images are split once, by one seeded permutation, into 55,000 for "
        "training and 5,000 for validation; the 10,000 test images are used once, at the end. The "
        "split lives in `shared/`, so both sides hold out the very same images.",
        (("shared/splits.py:load_splits", None),),
        (),
    ),
    Page(
        "03-loading",
        "Loading and batches",
        "loading and batches",
        "what a DataLoader does (Q19, Q22); why validation is not shuffled (Q28); batch size and "
        "mini-batches (Q29, Q61, Q68)",
        "Keras hands `fit` its data and lets it batch; PyTorch builds a loader that yields batches "
        "to an explicit loop. Both serve every sample once per epoch, in a fresh order each epoch, "
        "keep the partial last batch (55,000 = 429 x 128 + 88) and never shuffle evaluation data. "
        "The Keras side draws each epoch's order itself and serves it from a `PyDataset`, because "
        "`fit(shuffle=True)` on TensorFlow repeats one permutation when the seed is fixed.",
        (
            ("keras_impl/data.py:EpochOrders", "torch_impl/data.py:EpochOrders"),
            ("keras_impl/data.py:make_train_data", "torch_impl/data.py:make_train_data"),
            (None, "torch_impl/data.py:BatchLoader"),
            ("keras_impl/data.py:make_eval_data", "torch_impl/data.py:make_eval_data"),
        ),
        ("batch",),
    ),
    Page(
        "04-tensors",
        "Tensors and layout",
        "tensors and layout",
        "the shape of an image before and after it becomes a tensor (Q14-Q15); tensors and their "
        "dimensions (Q47-Q58); how PyTorch and Keras hold them (Q56)",
        "Keras holds a batch channels-last, (B, 28, 28, 1); PyTorch channels-first, (B, 1, 28, 28). "
        "Both flatten to (B, 784) in the same element order, because MNIST has one channel. A "
        "Dense kernel is (fan_in, fan_out), a Linear weight (fan_out, fan_in): shared weights are "
        "transposed on the way in. In float64 runs, Keras on TensorFlow would round Python-float "
        "constants to float32.",
        (
            (
                "keras_impl/model.py:load_initial_weights",
                "torch_impl/model.py:load_initial_weights",
            ),
            (None, "torch_impl/model.py:parameters_in_keras_layout"),
        ),
        ("batch", "Flatten", "logits"),
    ),
    Page(
        "05-normalization",
        "Normalization",
        "normalization",
        "why and how images are preprocessed (Q11-Q13, Q16); Compose (Q13, Q30); MNIST's mean and "
        "std, 0.1307 and 0.3081 (Q17)",
        "uint8 pixels become floats in [0, 1], then (x - mean) / std. Keras does it with layers at "
        "the front of the model; torchvision with transforms chained by `Compose`. Keras's "
        "`Normalization` takes a variance where torchvision's `Normalize` takes a std.",
        (("keras_impl/data.py:preprocess", "torch_impl/data.py:preprocess"),),
        ("Rescaling", "ToDtype", "Normaliz"),
    ),
    Page(
        "06-augmentation",
        "Augmentation",
        "augmentation",
        "what augmentation is and why it helps (Q18, Q23-Q25); different transforms for training "
        "and validation (Q27)",
        "Each training sample gets its own small random rotation, shift and scale every epoch, on "
        "[0, 1] images so the fill is black. torchvision has `RandomAffine`; Keras 3 has none, so "
        "the Keras side has its own layer that takes torchvision's arguments and conventions (angle "
        "sign, centre, whole-pixel shifts, scale not zoom). Both warp whole batches; the picture "
        "shows one digit warped with the same parameters by both sides.",
        (
            ("keras_impl/augment.py:RandomAffine", "torch_impl/augment.py:RandomAffine"),
            ("keras_impl/augment.py:random_affine", "torch_impl/augment.py:random_affine"),
            (None, "torch_impl/augment.py:BatchRandomAffine"),
            ("keras_impl/augment.py:affine", "torch_impl/augment.py:affine"),
        ),
        ("RandomAffine",),
    ),
    Page(
        "07-model",
        "Model",
        "model",
        "activation functions (Q8); shallow and deep models (Q38-Q46); random initial weights (Q60)",
        "Flatten, then Dense/Linear, ReLU and dropout per hidden layer, then a layer of 10 logits. "
        "Keras builds a `Sequential`; PyTorch an `nn.Module`. The frameworks initialise weights "
        "differently; the spec asks for Keras's Glorot-uniform and zero biases on both sides.",
        (
            ("keras_impl/model.py:Dropout", "torch_impl/model.py:Dropout"),
            (None, "torch_impl/model.py:MLP"),
            ("keras_impl/model.py:build_model", "torch_impl/model.py:build_model"),
        ),
        ("Flatten", "logits"),
    ),
    Page(
        "08-training",
        "Training loop",
        "training loop",
        "loss, backpropagation, the optimizer step and epochs (Q9-Q10, Q59-Q66); gradient descent "
        "and the learning rate (Q71-Q74); when to stop (Q75)",
        "Keras compiles an optimizer and a loss into the model and calls `fit`; PyTorch writes the "
        "loop out: zero the gradients, forward, loss, backward, step. Adam differs between the two "
        "in where epsilon enters the update; the PyTorch side sets its epsilon and learning rate "
        "before each step so that the update is Keras's.",
        (
            ("keras_impl/train.py:make_optimizer", "torch_impl/train.py:make_optimizer"),
            (None, "torch_impl/train.py:keras_update"),
            ("keras_impl/train.py:make_loss", "torch_impl/train.py:make_loss"),
            (None, "torch_impl/train.py:train_epoch"),
            ("keras_impl/train.py:train", "torch_impl/train.py:train"),
        ),
        ("loss",),
    ),
    Page(
        "09-evaluation",
        "Evaluation",
        "evaluation",
        "validation and test loss (Q67); the test set used once, at the end (Q33, Q35)",
        "Inference mode (no dropout, no augmentation), in order, over every sample: Keras's "
        "`evaluate` and `predict`; PyTorch's `eval()` and `no_grad()`. Both report the mean loss and "
        "the accuracy, and a confusion matrix.",
        (("keras_impl/evaluate.py:evaluate", "torch_impl/evaluate.py:evaluate"),),
        ("evaluation",),
    ),
)


def find(ref: str) -> tuple[str, int, int, list[str]]:
    """'file:Name' -> (file, first line, last line, the lines) of that top-level definition."""
    file, name = ref.split(":")
    lines = (ROOT / file).read_text().splitlines()
    for node in ast.parse("\n".join(lines)).body:
        if getattr(node, "name", None) == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return file, first, node.end_lineno, lines[first - 1 : node.end_lineno]
    raise LookupError(f"{ref}: no top-level definition {name} in {file}")


def bridging_lines(lines: list[str], first: int) -> list[tuple[int, list[str]]]:
    return [(first + i, TAG.findall(line)) for i, line in enumerate(lines) if TAG.search(line)]


def one_sided_reason(ref: str) -> str | None:
    file, name = ref.split(":")
    parts = Path(file).parts
    if parts[0] not in ("keras_impl", "torch_impl"):
        return None
    return ONE_SIDED.get((parts[0].split("_")[0], Path(file).stem, name))


def tag_locations() -> dict[str, list[str]]:
    """{bridge id: ["file:line", ...]} of every tagged bridging line."""
    found: dict[str, list[str]] = {}
    for path in sorted([*ROOT.glob("keras_impl/*.py"), *ROOT.glob("torch_impl/*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for tag in TAG.findall(line):
                found.setdefault(tag, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def load_measurements() -> tuple[dict, dict]:
    stages = json.loads((MEASURED / "stages.json").read_text())
    ablations = json.loads((DOCS / "ablations.json").read_text())
    return stages, ablations


def largest(values: list[float]) -> float:
    return max((abs(v) for v in values), default=0.0)


def measured_cost(entry_id: str, ablations: dict) -> list[str]:
    """What the ablation sweep measured for one entry, as sentences."""
    quick = ablations.get("quick", {})
    result = quick.get("ablations", {}).get(entry_id)
    if result is None:
        return ["not measured yet: run `python -m parity.ablations`"]
    baseline = quick["baseline"].get("curves", {})
    lines = [f"`{result['command']}` exits {result['exit']}"]
    if probe := result.get("probe"):
        lines.append(f"the lockstep probe: {probe_finding(probe)}")
    if "curves" in result:
        parts = [
            f"{key.replace('_', ' ')} {largest(result['curves'][key]):.4f} "
            f"(untouched {largest(baseline.get(key, [])):.4f})"
            for key in ("train_loss", "val_loss", "val_accuracy")
        ]
        lines.append("largest per-epoch Keras - PyTorch difference: " + ", ".join(parts))
    else:
        lines.append("no curves: " + result.get("error", "a side did not finish")[-200:])
    lines.append(f"checks that fail: {failed_checks(result)}")
    full = ablations.get("full", {}).get("ablations", {}).get(entry_id)
    if full:
        lines.append(
            f"in the default configuration (`{full['command']}`, 10 epochs), checks that fail: "
            f"{failed_checks(full)}"
        )
    return lines


def probe_finding(probe: dict) -> str:
    """The probe's first finding, without the raw fingerprints."""
    if probe["passed"]:
        return "agrees at every step"
    first = probe["detail"].split("; ")[0].replace("first beyond tolerance: ", "")
    return first.split(" (keras ")[0]


def failed_checks(result: dict) -> str:
    names = [name.split(" (")[0] for name in result.get("failed_checks", [])]
    return ", ".join(names) or "none"


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


def entries_for(stage: str) -> list[Bridge | Slip]:
    return [e for e in (*BRIDGES, *SLIPS) if e.stage == stage]


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
        f"Measured with this {'bridge off' if isinstance(entry, Bridge) else 'change'} on the {SIDE_LABELS[entry.side]} side (`--ablate {entry.id}`, quick configuration, one seed):",
        "",
    ]
    out += [f"- {line}" for line in measured_cost(entry.id, ablations)]
    return out + [""]


def page_markdown(page: Page, stages: dict, ablations: dict, tags: dict) -> str:
    out = [
        f"# {page.title}",
        "",
        f"[All stages](index.md) | answers: {page.topics}",
        "",
        page.text,
        "",
        "## The code, both sides",
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
    out += shapes_markdown(page, stages)
    if page.slug == "06-augmentation":
        out += ["![the same digit warped by both sides](../walkthrough-data/augment.png)", ""]
    cards = entries_for(page.stage)
    if cards:
        out += ["## The framework differences met here", ""]
        for entry in cards:
            out += card_markdown(entry, tags, ablations)
    return "\n".join(out).rstrip() + "\n"


def index_markdown(ablations: dict) -> str:
    quick = ablations.get("quick", {})
    out = [
        "# The parity walkthrough: Keras and PyTorch, stage by stage",
        "",
        "Each page shows one stage of the pipeline in both frameworks, cut from the real files, with "
        "the bridging lines marked, the dtype and shape measured on real digits, and one card per "
        "framework difference met there, with what it costs when the bridge is off. Generated by "
        "`python -m parity.walkthrough`; `python -m pytest` fails when a page is stale. One "
        "self-contained HTML page with both columns side by side: `docs/walkthrough.html`.",
        "",
        *[f"{i}. [{p.title}]({p.slug}.md)" for i, p in enumerate(PAGES, 1)],
        "",
        "## What each difference costs: the ablation sweep",
        "",
        "Each row turns one bridge off (or makes one porting slip) on one side and runs "
        "`compare.py --quick` (`python -m parity.ablations`; `docs/ablations.json` holds every "
        "number). The untouched project passes the same run.",
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


def sweep_findings(quick: dict) -> list[str]:
    """Which ablations the epoch-level checks see, which only the probe or the audit see."""
    results = quick.get("ablations", {})

    def failing(name, prefix):
        return any(c.startswith(prefix) for c in results[name].get("failed_checks", []))

    curves = ("training loss", "validation", "test accuracy", "keras test", "torch test")
    by_curves = [n for n in results if any(failing(n, p) for p in curves)]
    refused = [
        n for n in results if "could not run" in (results[n].get("probe") or {}).get("detail", "")
    ]
    by_probe = [n for n in results if failing(n, "lockstep probe") and n not in by_curves + refused]
    unseen = [n for n in results if results[n].get("exit") == 0]

    def named(names):
        return ", ".join(f"`{n}`" for n in names) or "none"

    lines = [
        f"- the epoch-level checks (curves, test accuracy) catch {len(by_curves)} of "
        f"{len(results)}: {named(by_curves)};",
        f"- the lockstep probe alone catches {len(by_probe)} more, each located at its first step "
        f"and stage: {named(by_probe)};",
    ]
    if refused:
        lines.append(
            f"- the probe cannot share the draws of {named(refused)} and fails, saying why;"
        )
    reasons = [f"`{n}` ({UNSEEN.get(n, 'see its card')})" for n in unseen]
    lines.append(f"- no check fails for {', '.join(reasons) or 'none'}.")
    return lines


UNSEEN = {
    "init-kernel": "aligned mode and the probe load the shared initial weights over it; the audit "
    "marks it asked, and independent mode trains with it",
    "init-bias": "the same",
    "flatten-order": "the null control: with one channel it changes nothing, as it must",
}


# -- HTML ----------------------------------------------------------------------------------------

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mnist-parity: Keras and PyTorch, stage by stage</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 2em; max-width: 1700px; line-height: 1.45; color: #222; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.2em; }
table.sides { width: 100%; border-collapse: collapse; table-layout: fixed; }
table.sides > tbody > tr > td { vertical-align: top; width: 50%; padding: 0 0.6em; }
th.side { text-align: left; font-size: 1.1em; padding: 0.4em 0.6em; }
.keras { background: #fff3f0; } .torch { background: #f0f4ff; } .shared { background: #f4f4f4; }
.source { font-size: 0.82em; color: #555; }
.highlight pre { font-size: 0.9em; overflow-x: auto; margin: 0.2em 0 1em; }
.hll { background-color: #ffe58a !important; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.3em 1em; margin: 1em 0; }
table.data { border-collapse: collapse; font-size: 0.9em; } table.data td, table.data th { border: 1px solid #ddd; padding: 2px 8px; }
{{ pygments_css }}
</style></head><body>
<h1>mnist-parity: Keras and PyTorch, stage by stage</h1>
<p>Generated from the code by <code>python -m parity.walkthrough</code>. Left: Keras 3; right: PyTorch. Highlighted lines bridge a framework difference.</p>
<ol>{% for page in pages %}<li><a href="#{{ page.slug }}">{{ page.title }}</a></li>{% endfor %}<li><a href="#costs">What each difference costs</a></li></ol>
{% for page in pages %}
<h2 id="{{ page.slug }}">{{ page.title }}</h2>
<p><em>Answers: {{ page.topics }}</em></p>
{{ page.text_html }}
<table class="sides"><thead><tr><th class="side keras">Keras</th><th class="side torch">PyTorch</th></tr></thead><tbody>
{% for pair in page.pairs %}<tr>{% for cell in pair %}<td class="{{ cell.side }}"{% if cell.side == "shared" %} colspan="2"{% endif %}>{% if cell.code %}<div class="source">{{ cell.title }}: <code>{{ cell.file }}</code> lines {{ cell.first }}-{{ cell.last }}{% if cell.reason %}<br>one side only: {{ cell.reason }}{% endif %}</div>{{ cell.code }}{% elif cell.note %}<div class="source">{{ cell.note }}</div>{% endif %}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% if page.shapes %}<table class="sides"><tbody><tr>{% for side in page.shapes %}<td><table class="data"><tr><th>stage</th><th>dtype</th><th>shape</th></tr>{% for r in side %}<tr><td>{{ r.stage }}</td><td>{{ r.dtype }}</td><td>({{ r.shape|join(', ') }})</td></tr>{% endfor %}</table></td>{% endfor %}</tr></tbody></table>{% endif %}
{% if page.image %}<p><img alt="the same digit warped by both sides" src="data:image/png;base64,{{ page.image }}"></p>{% endif %}
{% for card in page.cards %}<div class="card">{{ card }}</div>{% endfor %}
{% endfor %}
<h2 id="costs">What each difference costs</h2>
{{ index_html }}
</body></html>
"""


def highlighted(lines: list[str], first: int, marks: list[int]) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    formatter = HtmlFormatter(
        linenos="inline", linenostart=first, hl_lines=[n - first + 1 for n in marks]
    )
    return highlight("\n".join(lines) + "\n", PythonLexer(), formatter)


def markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def html_cell(ref: str | None, side: str) -> dict:
    if ref is None:
        return {"side": side, "note": "no counterpart: see the other side's reason"}
    file, first, last, lines = find(ref)
    marks = [n for n, _ in bridging_lines(lines, first)]
    return {
        "side": side,
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
    if page.slug == "06-augmentation":
        image = base64.b64encode((MEASURED / "augment.png").read_bytes()).decode()
    cards = [
        markdown_to_html("\n".join(card_markdown(e, tags, ablations)).replace("### ", "#### "))
        for e in entries_for(page.stage)
    ]
    return {
        "slug": page.slug,
        "title": page.title,
        "topics": page.topics,
        "text_html": markdown_to_html(page.text),
        "pairs": pairs,
        "shapes": shapes,
        "image": image,
        "cards": cards,
    }


def render_html(stages: dict, ablations: dict, tags: dict) -> str:
    import jinja2
    from pygments.formatters import HtmlFormatter

    template = jinja2.Environment(autoescape=False).from_string(HTML_TEMPLATE)
    index = index_markdown(ablations).split("## What each difference costs: the ablation sweep", 1)[
        1
    ]
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


# -- measuring ------------------------------------------------------------------------------------


def measure() -> None:
    """Measure each side's stages in a process of its own, and draw the augmentation picture."""
    MEASURED.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stages = {}
    for side in SIDES:
        out = MEASURED / f"{side}.tmp.json"
        cmd = [sys.executable, "-m", "parity.stage_shapes", side, str(out)]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        stages[side] = json.loads(out.read_text())
        out.unlink()
    picture(stages)
    for side in SIDES:
        del stages[side]["warped"]
    (MEASURED / "stages.json").write_text(json.dumps(stages, indent=1) + "\n")


def picture(stages: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from parity.stage_shapes import DIGIT, WARP

    keras, torch = (np.array(stages[side]["warped"]) for side in SIDES)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    panels = [
        (keras, "Keras: keras_impl.augment.affine"),
        (torch, "PyTorch: torch_impl.augment.affine"),
        (np.abs(keras - torch), f"|difference|, largest {np.abs(keras - torch).max():.1e}"),
    ]
    for ax, (image, title) in zip(axes, panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1 if "differ" not in title else None)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(
        f"test digit {DIGIT}: angle {WARP['angle']:g} deg, shift ({WARP['tx']:g}, {WARP['ty']:g}) px, "
        f"scale {WARP['scale']:g}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(MEASURED / "augment.png", dpi=80, metadata={"Software": None})
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.walkthrough", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--measure", action="store_true", help="measure the stages and the picture again first"
    )
    args = parser.parse_args(argv)
    if args.measure:
        measure()
    for path, text in generate().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
