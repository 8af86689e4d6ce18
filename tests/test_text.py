"""Text helpers (analysis/inputs/read/text.py): numbers in words, ranges, products, degrees.

Every expected value is written by hand from the string on the same line.
"""

import pytest

from analysis.inputs import InputError, Strategy
from analysis.inputs.read.text import (
    degrees_in_text,
    find_product,
    find_range,
    number_of,
    numbers,
    read_degrees,
    words_to_digits,
)


@pytest.mark.parametrize("text,expected", [
    ("selects six experts", "selects 6 experts"),
    ("a single expert per token", "1 expert per token"),
    ("twenty layers", "20 layers"),
    ("twenty-four heads", "24 heads"),
    ("sixty four experts", "64 experts"),
    ("one hundred twenty-eight experts", "128 experts"),
    ("eleven, twelve, thirteen, nineteen", "11, 12, 13, 19"),
    ("a dozen GPUs", "12 GPUs"),
    ("someone said none", "someone said none"),      # no number word inside other words
])
def test_number_words(text, expected):
    assert words_to_digits(text) == expected


def test_numbers_with_suffixes_and_units():
    got = numbers("32k tokens, 1.5M requests, 10,240 tokens, FP16 on H100")
    assert [(n.value, n.suffix) for n in got] == [(32, "k"), (1.5, "M"), (10240, "")]
    assert got[0].after.startswith(" tokens")
    assert number_of("32k") == 32000
    assert number_of("32k", k=1024) == 32768
    assert number_of("six") == 6
    assert number_of("no number") is None


@pytest.mark.parametrize("text,lo,hi", [
    ("1k to 32k", 1000, 32000),
    ("512-8192", 512, 8192),
    ("[128, 10240]", 128, 10240),
    ("128 ~ 10240 tokens", 128, 10240),
    ("between 128 and 10,240", 128, 10240),
])
def test_ranges(text, lo, hi):
    got = find_range(text)
    assert got is not None and got[:2] == (lo, hi)


def test_products():
    p = find_product("Total GPUs = EP x TP x PP x DP = 8 x 8 x 2 x 8 = 1024")
    assert p.names == ("EP", "TP", "PP", "DP") and p.factors == (8, 8, 2, 8)
    assert p.value == 1024 and p.total == 1024           # 8*8*2*8 = 1024
    q = find_product("EP×TP×PP = 16×4×1 = 64")
    assert q.value == 64 and q.total == 64
    r = find_product("a x b")
    assert r.names == ("a", "b") and r.factors == () and r.value is None
    assert find_product("no product here") is None


@pytest.mark.parametrize("text,expected", [
    ("Tensor Parallelism (TP): 4-way", [("tp", 4)]),
    ("Degree: 8-way tensor parallelism", [("tp", 8)]),
    ("Decision: EP = 16", [("ep", 16)]),
    ("we run TP=4 for attention", [("tp", 4)]),
    ("tp=4,ep=16", [("tp", 4), ("ep", 16)]),
    ("tp4-ep16", [("tp", 4), ("ep", 16)]),
    ("tp4-dp_attn2-ep8", [("tp", 4), ("dp_attn", 2), ("ep", 8)]),
    ("layout tp4-dp_attn16-etp4-ep16-mb2", [("tp", 4), ("dp_attn", 16), ("etp", 4),
                                            ("ep", 16), ("microbatches", 2)]),
    ("EP16-TP4-PP2", [("ep", 16), ("tp", 4), ("pp", 2)]),
    ("EP64_TP2", [("ep", 64), ("tp", 2)]),
    ("eight-way expert parallelism", [("ep", 8)]),
    ("4 pipeline stages", [("pp", 4)]),
    ("Attention DP: 4", [("dp_attn", 4)]),
    ("Micro-batches: 4", [("microbatches", 4)]),
    ("(EP×TP×PP = 16×4×1 = 64)", [("ep", 16), ("tp", 4), ("pp", 1)]),
    ("TPOT: 50 ms", []),                                  # not a TP degree
    ("FP8 weights on H100", []),
    ("Expert Parameters: 0.62GB", []),
])
def test_degrees_in_every_shape(text, expected):
    assert degrees_in_text(text) == expected


def test_degree_under_a_heading_that_names_it():
    assert degrees_in_text("Degree: 8", heading="Tensor Parallelism") == [("tp", 8)]
    assert degrees_in_text("Degree: 8", heading="Notes") == []


def test_unread_degrees_are_not_stated_not_one():
    d = read_degrees([(3, "Tensor Parallelism (TP): 4-way", "")])
    assert d.get("tp") == 4 and d.line_of("tp") == 3
    assert d.get("pp") is None and d.get("dp") is None and d.get("ep") is None


def test_gpu_count_product_and_conflicts():
    d = read_degrees([
        (1, "Total GPUs = EP x TP x PP x DP = 8 x 8 x 2 x 8 = 1024", ""),
        (2, "Memory per GPU: 60 GB", ""),                  # not a GPU count
        (3, "GPUs: 128", ""),                              # disagrees with line 1
        (4, "TP: 2", ""),                                  # disagrees with line 1
    ])
    assert d.gpus == (1024, 1)
    assert (d.get("ep"), d.get("tp"), d.get("pp"), d.get("dp")) == (8, 8, 2, 8)
    assert d.product[0].value == 1024 and d.product[1] == 1
    assert len(d.conflicts) == 2
    assert "128 GPUs" in d.conflicts[0] and "tp = 2" in d.conflicts[1]


@pytest.mark.parametrize("label,named", [
    ("tp4-ep16", "tp=4,ep=16"),
    ("tp8", "tp=8"),
    ("dp_attn8-ep8-pp2", "dp_attn=8,ep=8,pp=2"),
    ("tp4-dp_attn16-etp4-ep16-mb2", "tp=4,dp_attn=16,etp=4,ep=16,mb=2"),
    ("single-gpu", "tp=1"),
])
def test_strategy_parse_reads_printed_labels(label, named):
    assert Strategy.parse(label) == Strategy.parse(named)


def test_strategy_label_round_trips_and_bad_label_is_one_error():
    s = Strategy.parse("tp=4,ep=16,pp=2")
    assert Strategy.parse(s.label()) == s                  # tp4-dp_attn16-etp4-ep16-pp2
    with pytest.raises(InputError, match="cannot read 'xp2'"):
        Strategy.parse("tp4-xp2")


def test_cli_strategy_accepts_a_printed_label(capsys):
    from analysis.cli import main
    assert main(["evaluate", "seed", "--strategy", "tp4-ep16", "--json"]) in (0, None)
    a = capsys.readouterr().out
    assert main(["evaluate", "seed", "--strategy", "tp=4,ep=16", "--json"]) in (0, None)
    assert capsys.readouterr().out == a
