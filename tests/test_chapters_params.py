"""Course chapters 01, 03, 04, 05 and 06 run under papermill with other parameters (another
model and GPU) without edits. The chapters' stored outputs are checked by nbval; this checks
that the parameters really are parameters."""

from pathlib import Path

import papermill as pm
import pytest

from tests.test_chapters_params_b import _default_names

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

CASES = {
    "01_model_anatomy": {"model": "mixtral-8x7b", "exercise_ep": 4},
    "04_communication": {"gpu": "H200", "exercise_gpus": 16},
    "03_roofline": {"model": "qwen3-30b-a3b", "gpu": "H200", "real_model": "deepseek-v3",
                    "real_gpu": "B200", "batch_sequences": 32, "prompt_tokens": 1024},
    "05_tensor_parallelism": {"model": "qwen3-30b-a3b", "gpu": "H200",
                              "real_model": "deepseek-v3", "real_gpu": "H800",
                              "batch_sequences": 16},
    "06_expert_parallelism": {"model": "mixtral-8x7b", "gpu": "H100-SXM",
                              "real_model": "qwen3-30b-a3b", "real_gpu": "H200",
                              "real_ep": 16, "tokens_per_gpu": 64},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_chapter_runs_with_other_parameters(name, tmp_path):
    params = CASES[name]
    declared = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    unknown = set(params) - set(declared)
    assert not unknown, f"not parameters of {name}: {sorted(unknown)}"
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="python3",
                        cwd=str(NOTEBOOKS), parameters={**params, "figure_dir": str(tmp_path)},
                        progress_bar=False)
    text = out.read_text(encoding="utf-8")
    assert "Answer:" in text
    assert list(tmp_path.glob("*.png")), "the chapter saved no figure"
    if name in PROSE_FROM_PARAMETERS:       # no sentence names a default that was replaced
        import nbformat
        nb = nbformat.read(str(out), as_version=4)
        prose = "\n".join(
            [c.source for c in nb.cells if c.cell_type == "markdown"]
            + ["".join(o.get("data", {}).get("text/markdown", "")) for c in nb.cells
               if c.cell_type == "code" for o in c.get("outputs", [])])
        for stale in _default_names(name, params):
            assert stale not in prose, f"{name} still names the default {stale!r}"


#: Chapters of this file whose prose is generated from the parameters (all of them).
PROSE_FROM_PARAMETERS = set(CASES)
