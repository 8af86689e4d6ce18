"""The tool notebooks (09 plan audit, 11 sensitivity, 12 strategy report) re-run under papermill
with another input: their prose never describes the default one (issue 15), and the run writes
nothing into a tracked folder (outputs go to tmp_path through the notebooks' parameters).

The inputs are the cheapest that exercise the point: 11 and 12 on the dense card (its plans take
a fraction of the seed's time), 11 with 5 grid points. Together about 13 s."""

import subprocess
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CARD = "../examples/cards/dense-10b-mlp-requirements.md"

#: (notebook, parameters, the parameter that redirects its outputs, words of the default run that
#: must not appear in the prose, words of this run that must)
RUNS = [
    ("09_plan_audit", {"plan_path": "../examples/cards/moe-30b-64e-current-strategy.md"},
     "output_root", ["seed", "tp4-dp_attn16-etp4-ep16"], ["`tp8-ep8-pp8-dp8`"]),
    ("11_sensitivity", {"scenario": CARD, "points": 5}, "figure_dir", ["seed", "759 tokens/ms"],
     ["`dense-10b-mlp-requirements`"]),
    ("12_strategy_report", {"scenario": CARD}, "output_root", ["seed"], []),
]


def _untracked_and_changed() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def _prose(nb) -> str:
    """Markdown cells and Markdown outputs: what a reader reads as sentences."""
    return "\n".join(
        [c.source for c in nb.cells if c.cell_type == "markdown"]
        + ["".join(o.get("data", {}).get("text/markdown", "")) for c in nb.cells
           if c.cell_type == "code" for o in c.get("outputs", [])])


@pytest.mark.parametrize("name, params, out_param, stale, fresh", RUNS,
                         ids=[r[0] for r in RUNS])
def test_tool_notebook_reads_its_prose_from_the_run(name, params, out_param, stale, fresh,
                                                     tmp_path, monkeypatch):
    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert set(params) | {out_param} <= set(declared)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    before = _untracked_and_changed()
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=False,
                               parameters={**params, out_param: str(tmp_path / "out")})
    prose = _prose(nbformat.read(str(out), as_version=4))
    for word in stale:                          # "seed": the default scenario, model and GPU
        assert word.lower() not in prose.lower(), f"{name} still names the default: {word!r}"
    for word in fresh:
        assert word in prose, f"{name}: the prose does not describe this run ({word!r})"
    assert list((tmp_path / "out").rglob("*")), f"{name} wrote nothing to its {out_param}"
    assert _untracked_and_changed() == before, f"{name} wrote into a tracked folder"


def test_tool_takeaways_are_generated():
    """The notebooks whose conclusions depend on the input end with a generated takeaway, not
    a hand-written one."""
    for name, call in [("09_plan_audit", "audit.takeaway_markdown(res)"),
                       ("11_sensitivity", "sensitivity.reading_markdown(result)")]:
        nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
        assert any(call in c.source for c in nb.cells if c.cell_type == "code"), name
        assert not any("**Takeaway" in c.source for c in nb.cells if c.cell_type == "markdown")
