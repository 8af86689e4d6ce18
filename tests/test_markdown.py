"""The shared markdown splitter (analysis/inputs/read/markdown.py): sections, items, lines."""

from analysis.inputs.read.markdown import split, split_key_value

DOC = """# Title
intro line

## Hardware
- **GPU**: H100
| Key | Value |
|-----|-------|
| Memory | 80 GB |

```yaml
tp: 4
```
### Sub
✓ Memory fits: 1 GB <= 80 GB
**Model Configuration**
Layers = 16
"""


def test_sections_nest_by_level_and_keep_line_numbers():
    doc = split(DOC, pseudo_heading=lambda t: "model" in t.lower())
    titles = [(s.title, s.level, s.no) for s in doc.sections()]
    assert titles == [("Title", 1, 1), ("Hardware", 2, 4), ("Sub", 3, 13),
                      ("Model Configuration", 2, 15)]
    assert doc.sections()[2].path() == ["Title", "Hardware", "Sub"]
    items = {it.no: (s.title, it) for s, it in doc.items()}
    assert sorted(items) == [2, 5, 6, 8, 14, 16]           # blank, separator, fence: dropped
    assert items[5][1].key == "GPU" and items[5][1].value == "H100" and items[5][1].bullet
    assert items[6][1].header                                  # | Key | Value |
    assert items[8][1].cells == ("Memory", "80 GB") and items[8][1].key == "Memory"
    assert items[14][1].tick is True and items[14][1].key == "Memory fits"
    assert items[16][0] == "Model Configuration" and items[16][1].key == "Layers"
    assert doc.fenced == [(11, 11)]                           # the yaml block's one line


def test_a_fence_wrapping_a_whole_card_is_unwrapped():
    doc = split("```\n## Model\n- Layers: 16\n```\n")
    assert [(it.no, it.key) for _, it in doc.items()] == [(3, "Layers")]
    assert doc.fenced == []


def test_code_fence_without_headings_is_skipped():
    doc = split("## Strategy\n```\npython run.py --tp 4\n```\n- TP: 2\n")
    assert [it.no for _, it in doc.items()] == [5]
    assert doc.fenced == [(3, 3)]


def test_key_value_shapes():
    assert split_key_value("10:30 start")[0] is None          # a time, not a key
    assert split_key_value("EP = 16")[:2] == ("EP", "16")
    assert split_key_value("EP = 16", equals=False)[0] is None
    assert split_key_value("a, b = 3")[0] is None
