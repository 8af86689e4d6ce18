"""The continuous-batching serving estimate, checked against its own stated formulas and by
hand on the toy chip of tests/test_estimate.py."""

import dataclasses
import json
import subprocess
import sys

import pytest

from analysis import estimate as E
from analysis.estimate import serving as SV
from analysis.inputs import Requirements, Scenario, Strategy, Workload
from analysis.inputs.errors import InputError
from tests.toys import TOY_CHIP, TOY_MOE

BAL = E.Options(imbalance="balanced")


def toy(hbm=100e9):
    chip = dataclasses.replace(TOY_CHIP, hbm_capacity_bytes=hbm)
    return Scenario("toy", chip, TOY_MOE, Workload(4, (1000,), 24),
                    Requirements(memory_reserve_fraction=0.0))


def test_one_request_decodes_alone():
    sc = toy()
    s = Strategy.parse("tp=1")
    est = SV.serve(sc, s, isl=1000, osl=100, concurrency=1, opts=BAL)
    # iteration = decode step of 1 request + compute of 1/100 of a prompt
    t_dec = SV._decode_step_s(sc, s, 1, 1000, 100, BAL)
    t_pre = SV._prefill_extra_s(sc, s, 0.01, 1000, BAL)
    assert est.iteration_s == pytest.approx(t_dec + t_pre)
    assert est.tpot_s == pytest.approx(est.iteration_s)
    # its own prompt is prefilled whole in the iteration that admits it, after half an
    # iteration's wait on average
    t_first = t_dec + SV._prefill_extra_s(sc, s, 1.0, 1000, BAL)
    assert est.ttft_s == pytest.approx(est.iteration_s / 2 + t_first)
    assert est.output_tokens_per_s == pytest.approx(1 / est.iteration_s)
    assert est.queue_wait_s == 0 and not est.memory_limited


def test_prefill_extra_is_compute_only_by_hand():
    # 1 prompt of 1000 tokens on one toy GPU: compute of every GPU op at 5e13 FLOP/s
    sc = toy()
    ops = E.stage_ops(sc.hardware, sc.model, E.Layouts.from_strategies([Strategy()]), BAL,
                      seqs_per_group=1, query_tokens_per_seq=1000, phase="prefill")
    flops = sum(float(ops[o].flops[0]) for o in E.OPS)
    assert SV._prefill_extra_s(sc, Strategy(), 1, 1000, BAL) == pytest.approx(flops / 5e13)


def test_memory_limits_the_running_batch_and_the_rest_queue():
    # 100 MB of HBM: weights take 54.45 MB; each request's KV is 4096 B per token per layer x
    # 2 layers x 1100 tokens = 9.01 MB, so at most (100 - 54.45) / 9.01 = 5 requests fit
    # (fewer once activations and buffers are counted)
    sc = toy(hbm=100e6)
    s = Strategy()
    fit = SV.max_running_requests(sc, s, 1000, 100, BAL)
    per_seq = 1100 * 2 * 4096
    assert 1 <= fit <= (100e6 - 54_454_272) / per_seq
    est = SV.serve(sc, s, 1000, 100, concurrency=fit + 10, opts=BAL)
    assert est.memory_limited and est.running == fit
    # Little's law: 10 queued requests, fit finishing every 100 iterations
    assert est.queue_wait_s == pytest.approx(10 / (fit / (100 * est.iteration_s)))


def test_open_loop_satisfies_littles_law():
    sc = toy()
    s = Strategy()
    est = SV.serve(sc, s, 1000, 100, request_rate_per_s=5.0, opts=BAL)
    assert est.concurrency == pytest.approx(5.0 * (est.ttft_s + 99 * est.tpot_s), rel=1e-4)


def test_open_loop_past_capacity_is_refused():
    sc = toy()
    with pytest.raises(InputError, match="no steady state"):
        SV.serve(sc, Strategy(), 1000, 100, request_rate_per_s=1e9, opts=BAL)


def test_more_concurrency_raises_throughput_and_tpot():
    sc = toy()
    a = SV.serve(sc, Strategy(), 1000, 100, concurrency=1, opts=BAL)
    b = SV.serve(sc, Strategy(), 1000, 100, concurrency=8, opts=BAL)
    assert b.output_tokens_per_s > a.output_tokens_per_s
    assert b.tpot_s >= a.tpot_s


def test_bad_inputs_are_clear():
    sc = toy()
    with pytest.raises(InputError, match="isl"):
        SV.serve(sc, Strategy(), 0, 100)
    with pytest.raises(InputError, match="not both"):
        SV.serve(sc, Strategy(), 10, 10, concurrency=1, request_rate_per_s=1)


def test_cli_serve_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "analysis", "serve", "seed", "--strategy", "ep=8",
                          "--concurrency", "64", "--isl", "1024", "--osl", "128", "--json"],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    assert d["layout"] == "dp_attn8-ep8" and d["ttft_s"] > 0 and d["mode"] == "derated"
    bad = subprocess.run([sys.executable, "-m", "analysis", "serve", "seed", "--strategy", "ep=8",
                          "--isl", "-3"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
    assert "Traceback" not in bad.stderr


def test_replicas_do_not_change_what_fits_per_gpu():
    # dp copies the whole layout: each replica holds exactly what one alone holds
    sc = toy(hbm=100e6)
    one = SV.max_running_requests(sc, Strategy(), 1000, 100, BAL)
    two = SV.max_running_requests(sc, Strategy(dp=2), 1000, 100, BAL)
    assert two == 2 * one
