"""The mirror check: every public function and class of keras_impl/M.py has a same-named partner in
torch_impl/M.py (and of keras_parity/M.py in torch_parity/M.py), in the same order, or is declared
one-sided with a reason (parity/mirror.py). The names check: no other two modules of the pipelines,
their instruments, shared/ and parity/ share a file name."""

import shutil

import pytest

from parity.mirror import ONE_SIDED, PACKAGES, ROOT, mirror_differences, shared_file_names


def test_the_two_sides_mirror_each_other():
    assert mirror_differences() == []


def test_every_one_sided_name_says_why():
    assert all(len(reason.split()) >= 5 for reason in ONE_SIDED.values())


@pytest.fixture
def copy_of_sides(tmp_path):
    for side in ("keras", "torch"):
        for kind in ("impl", "parity"):
            shutil.copytree(ROOT / f"{side}_{kind}", tmp_path / f"{side}_{kind}")
    return tmp_path


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_function_on_one_side_only_is_flagged(copy_of_sides):
    with (copy_of_sides / "torch_impl" / "evaluate.py").open("a") as module:
        module.write("\n\ndef accuracy_only(model, loader):\n    return 0.0\n")
    assert mirror_differences(copy_of_sides) == [
        "torch_impl/evaluate.py: accuracy_only has no partner in keras_impl/evaluate.py "
        "(add one, or declare it one-sided in parity/mirror.py with the reason)"
    ]


def test_partners_in_another_order_are_flagged(copy_of_sides):
    path = copy_of_sides / "keras_impl" / "model.py"
    text = path.read_text()
    count = text[text.index("def count_params") :]
    path.write_text(
        text.replace(count, "").replace("def build_model", count + "\n\ndef build_model")
    )
    (problem,) = mirror_differences(copy_of_sides)
    assert problem.startswith("model.py: the sides define their partners in different orders")


def test_a_module_without_partner_and_a_stale_declaration_are_flagged(copy_of_sides):
    (copy_of_sides / "keras_impl" / "callbacks.py").write_text("def log():\n    pass\n")
    edit(copy_of_sides / "keras_impl" / "train.py", "class EpochLog(", "class EpochLogger(")
    problems = mirror_differences(copy_of_sides)
    assert "keras_impl/callbacks.py has no partner torch_impl/callbacks.py" in problems
    assert any("EpochLogger has no partner" in p for p in problems)
    assert "ONE_SIDED names keras train.py EpochLog, which does not exist" in problems


def test_the_instruments_mirror_each_other_too(copy_of_sides):
    with (copy_of_sides / "torch_parity" / "alignment.py").open("a") as module:
        module.write("\n\ndef shared_order(loader):\n    return None\n")
    assert mirror_differences(copy_of_sides) == [
        "torch_parity/alignment.py: shared_order has no partner in keras_parity/alignment.py "
        "(add one, or declare it one-sided in parity/mirror.py with the reason)"
    ]


def test_no_two_packages_share_a_module_name_but_the_mirror_pairs():
    assert shared_file_names() == []


def test_a_shared_module_name_is_flagged(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("data"))
    assert shared_file_names(tmp_path) == []  # the mirror pairs and __init__.py pass
    (tmp_path / "parity" / "audit_rows.py").write_text("")  # a third audit_rows.py
    (tmp_path / "shared" / "checks.py").write_text("")  # parity/checks.py's namesake
    assert shared_file_names(tmp_path) == [
        "audit_rows.py is the name of keras_parity/audit_rows.py, parity/audit_rows.py, "
        "torch_parity/audit_rows.py: name each for what it does "
        "(only the keras/torch packages share names, as mirror pairs)",
        "checks.py is the name of parity/checks.py, shared/checks.py: name each for what it does "
        "(only the keras/torch packages share names, as mirror pairs)",
    ]
