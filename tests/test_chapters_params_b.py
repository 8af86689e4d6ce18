"""Course chapters 02, 07 and 08 run unchanged with another model and GPU (papermill API).

papermill only warns about a parameter the notebook does not declare, so every name passed here
is also checked against ``papermill.inspect_notebook``.
"""

from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

RUNS = [
    ("02_memory", "qwen3-h200", {"real_model": "qwen3-30b-a3b", "real_gpu": "H200",
                                 "context_tokens": 4096}),
    ("02_memory", "mixtral-a100", {"real_model": "mixtral-8x7b", "real_gpu": "A100-80GB",
                                   "batch_layouts": ["tp2", "ep4"], "real_layout": "tp4"}),
    ("07_pipeline_parallelism", "qwen3-h200", {"real_model": "qwen3-30b-a3b",
                                               "real_gpu": "H200", "real_batch": 32}),
    ("07_pipeline_parallelism", "mixtral-a100", {"real_model": "mixtral-8x7b",
                                                 "real_gpu": "A100-80GB", "pps": [1, 2, 4],
                                                 "exercise_pp": 8, "exercise_bubble": 0.1}),
    ("08_data_parallelism", "qwen3-b200", {"gqa_model": "qwen3-30b-a3b", "gpu": "B200"}),
    # DeepSeek-V3 does not fit on 8 x 80 GB: the chapter must still run (batches of 0)
    ("08_data_parallelism", "mixtral-h100", {"gqa_model": "mixtral-8x7b", "gpu": "H100-SXM",
                                             "context_tokens": 4096, "exercise_tp": 4}),
]


@pytest.mark.parametrize("name, label, params", RUNS, ids=[f"{n}-{lbl}" for n, lbl, _ in RUNS])
def test_parameters_are_declared(name, label, params):
    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert set(params) <= set(declared), f"{name} does not declare {set(params) - set(declared)}"
    for p in declared.values():            # typed and commented, as the authoring rules ask
        assert p["inferred_type_name"] != "None", p
        assert p["help"], p


@pytest.mark.parametrize("name, label, params", RUNS, ids=[f"{n}-{lbl}" for n, lbl, _ in RUNS])
def test_chapter_runs_with_other_parameters(name, label, params, tmp_path, monkeypatch):
    # the kernel imports `analysis` from the repository; it runs in tmp_path/notebooks so that
    # the chapter's figures (figure_dir, ../build/figures/...) land in tmp_path
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOKS.parent))
    cwd = tmp_path / "notebooks"
    cwd.mkdir()
    out = tmp_path / f"{name}-{label}.ipynb"
    nb = papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out),
                                    kernel_name="python3", cwd=str(cwd),
                                    parameters=params, progress_bar=False)
    assert list((tmp_path / "build" / "figures").glob(f"{name}-*.png"))
    assert out.exists()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "Answer" in text or "copies in the tp group" in text
    if name in PROSE_FROM_PARAMETERS:
        prose = "\n".join(
            [c.source for c in nb.cells if c.cell_type == "markdown"]
            + ["".join(o.get("data", {}).get("text/markdown", "")) for c in nb.cells
               if c.cell_type == "code" for o in c.get("outputs", [])])
        for stale in _default_names(name, params):
            assert stale not in prose, f"{name} still names the default {stale!r}"


#: Chapters whose prose reads its numbers from the run's parameters (issue 15): re-run with
#: another model or GPU, no sentence may name the default one (the other chapters: not yet).
PROSE_FROM_PARAMETERS = {"02_memory", "07_pipeline_parallelism", "08_data_parallelism"}


def _default_names(name: str, params: dict) -> list[str]:
    """Display names of the defaults that ``params`` replace (models and GPUs), e.g.
    "DeepSeek-V3" when real_model changes from deepseek-v3."""
    from analysis.inputs.read.mapping import hardware_from_ref
    from analysis.inputs.read.scenario import load_model

    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    out = []
    for key, value in params.items():
        default = str(declared[key]["default"]).strip("\"'")
        if default == value or not isinstance(value, str):
            continue
        if key.endswith("model"):
            out.append(load_model(default)[0].name)
        elif key.endswith("gpu"):
            out.append(hardware_from_ref(default)[0].name)
    return out


def test_chapters_save_figures_outside_tracked_folders():
    """Figures go to figure_dir (default ../build/figures, untracked), so a re-run with other
    parameters leaves no new file in a tracked folder."""
    for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "../reports/figures" not in text, path.name
        if "figures.save(" in text:
            declared = papermill.inspect_notebook(str(path))
            assert declared["figure_dir"]["default"].strip("\"'") == "../build/figures", path.name
