"""The default validation tables kept on disk between processes.

A validation table depends only on the package's code and data (the cases, the presets, the
stored fit), so it is keyed by a digest of every ``.py``, ``.yaml``, ``.csv`` and ``.json``
file under ``analysis/`` plus the numpy and pandas versions: any edit gives a new key, and a
table is never served for other inputs. The tests, notebook 10 and ``python -m analysis
validate`` each need the same tables; computing them once saves about 8 CPU seconds a mode
and run. Files go to ``build/cache/`` (untracked); set ``MOEPLAN_NO_CACHE=1`` to bypass it. A
cache that cannot be read or written is skipped: it never changes a result.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CACHE_DIR = PACKAGE_DIR.parent / "build" / "cache"
#: files under analysis/ that are outputs of validation, not inputs to it
OUTPUTS = ("latest_summary.json",)


def inputs_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the relative path and bytes of every .py, .yaml, .csv and .json file under the
    package, in sorted order, and the numpy and pandas versions."""
    h = hashlib.sha256(f"numpy {np.__version__} pandas {pd.__version__}".encode())
    files = sorted(p for p in package_dir.rglob("*")
                   if p.suffix in (".py", ".yaml", ".csv", ".json") and p.name not in OUTPUTS
                   and "__pycache__" not in p.parts)
    for p in files:
        h.update(str(p.relative_to(package_dir)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def cached_table(mode: str, compute: Callable[[], pd.DataFrame],
                 cache_dir: Path = CACHE_DIR) -> pd.DataFrame:
    """``compute()``'s table for ``mode``, from ``cache_dir`` when an entry for the current
    inputs exists, else computed and stored. Processes asking for the same entry at once take
    turns (a lock file beside it), so the table is computed once."""
    if os.environ.get("MOEPLAN_NO_CACHE"):
        return compute()
    path = cache_dir / f"validation-{mode}-{inputs_digest()[:24]}.pkl"
    with _locked(path.with_suffix(".lock")):   # a second process waits, then reads
        table = _load(path)
        if table is None:
            table = compute()
            _store(path, table)
    return table


def _load(path: Path) -> pd.DataFrame | None:
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


@contextmanager
def _locked(lock: Path):
    """An exclusive lock on ``lock`` while the block runs (POSIX ``flock``); without one (no
    fcntl, or the folder cannot be written) the block runs unlocked."""
    try:
        import fcntl

        lock.parent.mkdir(parents=True, exist_ok=True)
        fh = lock.open("a")
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()


def _store(path: Path, table: pd.DataFrame) -> None:
    """Write atomically (a temporary file renamed): a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(table, fh)
        os.replace(tmp, path)
    except OSError:
        pass
