"""The package's rooms import one way only: inputs <- anatomy <- readers <- estimate <- simulate
<- search <- validation <- report / course <- cli (and commands).

It also holds the size rule: no module over 450 lines, no function over 60, except declarative
tables named in LONG_MODULES / LONG_FUNCTIONS with their reason (none today).

Each module's imports are read from its source (``ast``), so a violation fails here whatever the
import order at run time. A room may use its own modules and any room below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "analysis"

#: (module prefix, layer). The longest matching prefix decides a module's layer.
LAYERS = (
    ("analysis.inputs", 0),          # the typed inputs, their checks and errors
    ("analysis.fmt", 0),             # number formatting, a leaf every room may use
    ("analysis.anatomy", 1),         # parameters, FLOPs, KV cache of one model
    ("analysis.inputs.read", 2),     # readers: they cross-check a declared size with the anatomy
    ("analysis.estimate", 3),        # one layout's memory and time
    ("analysis.simulate", 4),        # a serving engine run, iteration by iteration
    ("analysis.search", 5),          # the planner
    ("analysis.validation", 6),      # predictions against published measurements
    ("analysis.report", 7),          # report, figures, tables, audit, sensitivity
    ("analysis.course", 7),          # the course's tables and figures
    ("analysis.explorer", 8),        # interactive front ends
    ("analysis.cli", 8),             # every verb's argparse
    ("analysis.commands", 8),        # what each verb does with its arguments, and prints
    ("analysis.__main__", 8),
    ("analysis", 8),                 # the package's own __init__ (lazy public names)
)


def layer_of(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, me: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of the package in ``path`` (module ``me``,
    by default the one at that path)."""
    me = me or module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("analysis")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "analysis" or mod.startswith("analysis."):
                # "from analysis.x import y" may name a submodule y: judge the deepest module
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    exists = (PKG.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                        (PKG.parent / sub.replace(".", "/") / "__init__.py").exists()
                    out.append((node.lineno, sub if exists else mod))
    return out


MODULES = sorted(PKG.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG.parent)))
def test_imports_point_down_or_across(path):
    me = module_name(path)
    mine = layer_of(me)
    wrong = [f"line {line}: {mod} (layer {layer_of(mod)})"
             for line, mod in imported_modules(path)
             if layer_of(mod) > mine and not me.startswith(mod)]
    assert not wrong, f"{me} (layer {mine}) imports a room above it: " + "; ".join(wrong)


def test_only_the_front_ends_import_the_cli():
    for path in MODULES:
        me = module_name(path)
        if me in ("analysis.__main__", "analysis.cli"):
            continue
        assert all(mod != "analysis.cli" for _, mod in imported_modules(path)), me


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rule itself can fail: a fake estimate module that imports the report is caught."""
    fake = tmp_path / "probe.py"
    fake.write_text("from analysis.report import strategy\nfrom ..search import planner\n",
                    encoding="utf-8")
    mods = [m for _, m in imported_modules(fake, me="analysis.estimate.probe")]
    assert mods == ["analysis.report.strategy", "analysis.search.planner"]
    assert all(layer_of(m) > layer_of("analysis.estimate.probe") for m in mods)


# ------------------------------------------------------------------------------------ sizes

#: Most lines a module may have, and a function (its ``def`` line to its last line).
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60

#: Modules allowed past MAX_MODULE_LINES, each with its reason: declarative tables only.
LONG_MODULES: dict[str, str] = {}

#: Functions allowed past MAX_FUNCTION_LINES (``module:function``), each with its reason:
#: declarative tables only (e.g. a literal mapping returned whole).
LONG_FUNCTIONS: dict[str, str] = {}


def _function_lengths(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_module_is_too_long():
    long = {module_name(p): n for p in MODULES
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    unexplained = {m: n for m, n in long.items() if m not in LONG_MODULES}
    assert not unexplained, (f"modules over {MAX_MODULE_LINES} lines (split them, or list a "
                             f"declarative table in LONG_MODULES with its reason): {unexplained}")


def test_no_function_is_too_long():
    long = {f"{module_name(p)}:{name}": n for p in MODULES for name, n in _function_lengths(p)
            if n > MAX_FUNCTION_LINES}
    unexplained = {f: n for f, n in long.items() if f not in LONG_FUNCTIONS}
    assert not unexplained, (f"functions over {MAX_FUNCTION_LINES} lines (split them, or list a "
                             f"declarative table in LONG_FUNCTIONS with its reason): "
                             f"{unexplained}")


def test_the_allowances_are_still_needed():
    """An allowance whose module or function has shrunk (or gone) is removed, not kept."""
    modules = {module_name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES}
    functions = {f"{module_name(p)}:{name}": n for p in MODULES
                 for name, n in _function_lengths(p)}
    assert all(modules.get(m, 0) > MAX_MODULE_LINES for m in LONG_MODULES), LONG_MODULES
    assert all(functions.get(f, 0) > MAX_FUNCTION_LINES for f in LONG_FUNCTIONS), LONG_FUNCTIONS


def test_the_size_checker_can_fail(tmp_path):
    """A 61-line function is measured as 61 lines (so the limit above can be exceeded)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n" + "    x = 1\n" * 59 + "    return x\n", encoding="utf-8")
    assert _function_lengths(probe) == [("f", 61)]
