"""The on-disk cache of validation tables: served only for unchanged inputs, never changes a
result (analysis/validation/cache.py)."""

import pandas as pd

from analysis.validation import cache as C


def _counting():
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"case_id": ["M1", "S2:ttft_ms_mean"], "predicted": [1.5, 0.25]})
    return compute, calls


def test_second_call_reads_the_stored_table(tmp_path, monkeypatch):
    monkeypatch.delenv("MOEPLAN_NO_CACHE", raising=False)
    compute, calls = _counting()
    first = C.cached_table("calibrated", compute, tmp_path)
    second = C.cached_table("calibrated", compute, tmp_path)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".lock", ".pkl"]   # no temporary file


def test_other_inputs_or_mode_recompute(tmp_path, monkeypatch):
    monkeypatch.delenv("MOEPLAN_NO_CACHE", raising=False)
    compute, calls = _counting()
    C.cached_table("calibrated", compute, tmp_path)
    C.cached_table("derated", compute, tmp_path)
    monkeypatch.setattr(C, "inputs_digest", lambda: "0" * 64)       # an edited input file
    C.cached_table("calibrated", compute, tmp_path)
    assert len(calls) == 3


def test_a_damaged_entry_is_recomputed_and_the_switch_bypasses(tmp_path, monkeypatch):
    monkeypatch.delenv("MOEPLAN_NO_CACHE", raising=False)
    compute, calls = _counting()
    C.cached_table("sol", compute, tmp_path)
    next(tmp_path.glob("*.pkl")).write_bytes(b"not a pickle")
    assert C.cached_table("sol", compute, tmp_path)["predicted"].tolist() == [1.5, 0.25]
    monkeypatch.setenv("MOEPLAN_NO_CACHE", "1")
    C.cached_table("sol", compute, tmp_path)
    assert len(calls) == 3


def test_digest_covers_code_and_data_but_not_outputs(tmp_path):
    pkg = tmp_path / "analysis"
    (pkg / "validation").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "validation" / "rows.csv").write_text("a,b\n1,2\n")
    base = C.inputs_digest(pkg)
    (pkg / "validation" / "latest_summary.json").write_text("{}")     # validate's own output
    assert C.inputs_digest(pkg) == base
    (pkg / "validation" / "rows.csv").write_text("a,b\n1,3\n")
    assert C.inputs_digest(pkg) != base


def _compute_slowly(cache_dir, log):
    import time

    def compute():
        with open(log, "a") as fh:
            fh.write("computed\n")
        time.sleep(0.5)
        return pd.DataFrame({"predicted": [1.0]})
    return C.cached_table("derated", compute, cache_dir)


def test_two_processes_asking_at_once_compute_once(tmp_path, monkeypatch):
    # the test suite's workers and notebook 10 ask for the same tables at the same time
    import multiprocessing as mp

    monkeypatch.delenv("MOEPLAN_NO_CACHE", raising=False)
    log = tmp_path / "log.txt"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_compute_slowly, args=(tmp_path / "cache", log))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert log.read_text().count("computed") == 1
