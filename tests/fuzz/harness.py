"""The fuzzer's parts: seed inputs, mutations, and one in-process CLI call judged by the contract.

The contract (issue 16): every call ends with exit 0 and finite, valid JSON on stdout, or exit 2
with exactly one ``error:`` line on stderr; never a traceback or another exception; never longer
than :data:`TIME_LIMIT_S`. Used by ``tests/test_fuzz.py`` (a bounded slice under hypothesis, and
the crash corpus) and ``tests/fuzz/run.py`` (``make fuzz N=...``).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import signal
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
TIME_LIMIT_S = 2.0      # CPU seconds per call

#: Seed inputs by kind: (path, kind). Kinds decide which verbs read them.
SEEDS: list[tuple[Path, str]] = (
    [(p, "card") for p in sorted((ROOT / "examples/cards").glob("*.md")) if "plan" not in p.name]
    + [(p, "yaml") for p in sorted((Path(__file__).parent / "seeds").glob("*.yaml"))]
    + [(p, "config") for p in sorted((ROOT / "analysis/inputs/presets/hf_configs").glob("*.json"))]
    + [(ROOT / "examples/cards/seed-plan.md", "plan")]
    + [(p, "run") for p in sorted((ROOT / "examples/runs").glob("*.yaml"))]
)

#: Cheap argument lists per verb; ``{f}`` is the input file.
VERBS: dict[str, list[str]] = {
    "anatomy": ["anatomy", "{f}", "--json", "--prompt-tokens", "512"],
    "check": ["check", "{f}", "--json"],
    "simulate": ["simulate", "{f}", "--json"],
    "evaluate": ["evaluate", "{f}", "--strategy", "tp=2", "--json"],
    "plan": ["plan", "{f}", "--max-gpus", "8", "--top", "2", "--json"],
    "serve": ["serve", "{f}", "--strategy", "tp=1", "--isl", "256", "--osl", "32", "--json"],
    "sensitivity": ["sensitivity", "{f}", "--inputs", "batch", "--scan", "none", "--max-gpus",
                    "4", "--json"],
    "audit": ["audit", "{f}", "--json"],
}
VERBS_BY_KIND = {
    "card": ["anatomy", "check", "evaluate", "plan", "serve", "sensitivity"],
    "yaml": ["anatomy", "check", "evaluate", "plan", "serve", "sensitivity"],
    "config": ["anatomy", "check", "evaluate", "plan", "serve"],   # via a wrapping scenario
    "plan": ["audit"],
    "run": ["simulate"],
}

#: What a number becomes under the "number" mutation.
NUMBER_SUBSTITUTES = ["0", "-1", "NaN", "nan", ".nan", "Infinity", "inf", "1e308", "-1e308",
                      "1e9", "1e12", "0.5", "many", "", "null", "true", "99999999999999999999"]
#: What an option's value becomes under the "option" mutation.
OPTION_SUBSTITUTES = ["0", "-1", "-5", "nan", "inf", "1e308", "2.5", "x", "tp=4,tp=8", ""]
#: Text inserted by the "insert" mutation.
INSERTS = ["\xff\xfe", "\x00", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
           "é", "- experts: 0", "num_layers: 1e9", "- **TP**: 4, **TP**: 8", "| a | b |",
           "## Model Configuration", "---", "{", "[", "*", "&a", "!!python/object:os.system",
           "Layers: 1000000000000"]

NUM_RE = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
OPS = ("number", "shuffle", "duplicate", "delete", "bytes", "long_line", "insert", "option",
       "truncate")


def mutate(data: bytes, ops: list[tuple[str, int]]) -> bytes:
    """Apply mutations ``(name, parameter)`` in order; deterministic in its arguments."""
    for name, k in ops:
        lines = data.split(b"\n")
        if name == "number":
            nums = list(NUM_RE.finditer(data))
            if nums:
                m = nums[k % len(nums)]
                sub = NUMBER_SUBSTITUTES[(k // max(len(nums), 1)) % len(NUMBER_SUBSTITUTES)]
                data = data[:m.start()] + sub.encode() + data[m.end():]
        elif name == "shuffle":
            random.Random(k).shuffle(lines)
            data = b"\n".join(lines)
        elif name == "duplicate":
            i = k % len(lines)
            data = b"\n".join(lines[:i + 1] + lines[i:i + 1] * (1 + k % 3) + lines[i + 1:])
        elif name == "delete":
            i = k % len(lines)
            data = b"\n".join(lines[:i] + lines[i + 1:])
        elif name == "bytes":
            i = k % (len(data) + 1)
            data = data[:i] + bytes([0x80 + k % 0x80, 0xC0 + k % 0x20]) + data[i:]
        elif name == "long_line":
            i = k % len(lines)
            lines[i] = lines[i] + b" 7" * (5000 + k % 50000)
            data = b"\n".join(lines)
        elif name == "insert":
            i = k % len(lines)
            text = INSERTS[k % len(INSERTS)].encode("utf-8", "surrogatepass")
            data = b"\n".join(lines[:i] + [text] + lines[i:])
        elif name == "truncate":
            data = data[:k % (len(data) + 1)]
    return data


def argv_for(verb: str, path: str, ops: list[tuple[str, int]]) -> list[str]:
    """The verb's argument list with ``{f}`` filled and "option" mutations applied to the
    values that follow options."""
    argv = [a.replace("{f}", path) for a in VERBS[verb]]
    for name, k in ops:
        if name == "option":
            slots = [i for i in range(1, len(argv)) if argv[i - 1].startswith("--")
                     and not argv[i].startswith("--")]
            if slots:
                argv[slots[k % len(slots)]] = OPTION_SUBSTITUTES[k % len(OPTION_SUBSTITUTES)]
    return argv


def write_input(tmp: Path, seed: Path, kind: str, data: bytes) -> Path:
    """Write the mutated bytes where a verb can read them; a config.json is wrapped in a
    scenario YAML for the scenario verbs (``anatomy`` reads it directly)."""
    target = tmp / f"input{seed.suffix}"
    target.write_bytes(data)
    if kind == "config":
        (tmp / "scenario.yaml").write_text(
            "name: wrapped\nhardware: H100-SXM\nmodel: input.json\n"
            "workload: {batch_sequences: 8, prompt_tokens: 512, output_tokens: 32}\n"
            "max_gpus: 8\n", encoding="utf-8")
    return target


def input_for(verb: str, kind: str, target: Path) -> Path:
    return target.parent / "scenario.yaml" if kind == "config" and verb != "anatomy" else target


# -------------------------------------------------------------------------------- one call

_WARM: set[str] = set()


def warm_up(tmp: Path) -> None:
    """Run each verb once on an unmutated seed, unbounded: first calls pay for imports and
    preset caches, which is not the work the time bound is about."""
    for seed, kind in SEEDS:
        for verb in VERBS_BY_KIND[kind]:
            if verb not in _WARM:
                _WARM.add(verb)
                target = write_input(tmp, seed, kind, seed.read_bytes())
                run_cli(argv_for(verb, str(input_for(verb, kind, target)), []), 600)


class Hang(BaseException):
    """Raised by the timer inside a call that ran past the time limit."""


@dataclass
class Outcome:
    verb: str
    kind: str          # ok, error, crash, hang, invalid
    code: int | None
    stdout: str
    stderr: str
    detail: str = ""


def _refuse_constant(name: str):
    raise ValueError(f"{name} in JSON output")


def run_cli(argv: list[str], time_limit_s: float = TIME_LIMIT_S) -> Outcome:
    """``analysis.cli.main(argv)`` in this process, stdout and stderr captured, judged."""
    from analysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    verb = argv[0] if argv else ""

    def on_alarm(signum, frame):
        raise Hang()

    # CPU time of this process, not wall time: the bound holds on a busy shared machine
    old = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, time_limit_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Hang:
        return Outcome(verb, "hang", None, out.getvalue(), err.getvalue(),
                       f"ran past {time_limit_s} s of CPU time")
    except SystemExit as e:
        return Outcome(verb, "crash", None, out.getvalue(), err.getvalue(),
                       f"SystemExit({e.code!r}) escaped main")
    except BaseException:   # noqa: BLE001 - any exception is the finding
        return Outcome(verb, "crash", None, out.getvalue(), err.getvalue(),
                       traceback.format_exc(limit=-8))
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)
    return judge(verb, code, out.getvalue(), err.getvalue())


def judge(verb: str, code: int | None, stdout: str, stderr: str) -> Outcome:
    """Exit 0 with finite JSON, or exit 2 with exactly one ``error:`` line and no traceback."""
    if "Traceback" in stderr or "Traceback" in stdout:
        return Outcome(verb, "crash", code, stdout, stderr, "a traceback was printed")
    if code == 0:
        try:
            json.loads(stdout, parse_constant=_refuse_constant)
        except ValueError as e:
            return Outcome(verb, "invalid", code, stdout, stderr, f"stdout is not finite JSON: {e}")
        return Outcome(verb, "ok", code, stdout, stderr)
    if code == 2:
        errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
        if len(errors) != 1:
            return Outcome(verb, "invalid", code, stdout, stderr,
                           f"{len(errors)} error: lines on stderr")
        return Outcome(verb, "error", code, stdout, stderr, errors[0])
    return Outcome(verb, "invalid", code, stdout, stderr, f"exit status {code!r}")


def short(detail: str, n: int = 300) -> str:
    """The last line of a detail, cut to ``n`` characters."""
    last = (detail.strip().splitlines() or [""])[-1]
    return last if len(last) <= n else last[:n] + f"... ({len(last)} characters)"


def save_crash(seed: Path, kind: str, verb: str, data: bytes, argv: list[str],
               outcome: Outcome) -> Path:
    """Keep a failing input in the corpus: ``<name>.<ext>`` and ``<name>.json`` (how to run it)."""
    import hashlib

    CORPUS.mkdir(parents=True, exist_ok=True)
    name = f"{verb}-{kind}-{hashlib.sha256(data + repr(argv).encode()).hexdigest()[:12]}"
    (CORPUS / f"{name}{seed.suffix}").write_bytes(data)
    meta = {"seed": str(seed.relative_to(ROOT)), "kind": kind, "verb": verb,
            "argv": [a if a != str(argv[1]) else "{f}" for a in argv],
            "found": outcome.kind, "detail": [short(outcome.detail)]}
    (CORPUS / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return CORPUS / f"{name}{seed.suffix}"
