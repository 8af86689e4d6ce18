"""Numbers in tables for people (analysis/fmt.py): values worked by hand."""

import math

import pandas as pd

from analysis import fmt


def test_table_number_by_hand():
    assert fmt.table_number(2861.83) == "2,862"
    assert fmt.table_number(1_234_567.0) == "1,234,567"
    assert fmt.table_number(831.776617) == "831.8"
    assert fmt.table_number(0.036220) == "0.03622"
    assert fmt.table_number(0.000262) == "0.000262"
    assert fmt.table_number(16.0) == "16"
    assert fmt.table_number(-0.125) == "-0.125"
    assert fmt.table_number(math.inf) == "inf"


def test_readable_tables_change_the_display_only():
    df = pd.DataFrame({"share": [0.0336, 0.2680], "ms": [295.343284, 2861.83]})
    before = pd.get_option("display.float_format")
    try:
        fmt.use_readable_tables()
        text = df.to_string()
        assert "295.3" in text and "2,862" in text and "295.343284" not in text
        assert df["ms"].iloc[0] == 295.343284      # the data keep every digit
    finally:
        pd.set_option("display.float_format", before)
