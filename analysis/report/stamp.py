"""What produced a report: the package version (in report.md) and the git commit (in
report.html only).

The markdown report is committed (``reports/seed/report.md``) and a test regenerates it byte for
byte, so it carries only the version, which changes when the package is released; the commit
changes with every commit and would make the committed report stale at once, so it goes into
the HTML header, which is built beside it and never compared byte for byte.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def package_version(root: Path = ROOT) -> str:
    """``version`` from the repository's pyproject.toml (the source the install was built
    from), else the installed distribution's, else "unknown"."""
    toml = root / "pyproject.toml"
    if toml.exists():
        m = re.search(r'^version\s*=\s*"([^"]+)"', toml.read_text(encoding="utf-8"), re.M)
        if m:
            return m.group(1)
    try:
        from importlib.metadata import version

        return version("moeplan")
    except Exception:  # noqa: BLE001  (not installed: say so rather than fail a report)
        return "unknown"


def git_commit(root: Path = ROOT) -> str:
    """The short hash of HEAD, with ``-dirty`` when tracked files differ from it; "unknown"
    when git or the repository is not available."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
