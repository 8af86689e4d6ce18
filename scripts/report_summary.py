"""Print where `make report` put the report and its one-line verdict, read from the executed
notebook (build/<scenario>.ipynb): the lines it printed, paths made relative to the repository.

    python scripts/report_summary.py build/seed.ipynb
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(notebook: str) -> int:
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    lines = [ln.rstrip("\n") for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", []) if o.get("output_type") == "stream"
             for ln in o.get("text", [])]
    paths = [ln.split("report: ", 1)[1] for ln in lines if ln.startswith("report: ")]
    verdicts = [ln for ln in lines if ln.startswith(("Recommended:", "No layout", "Serving:"))]
    if not paths or not verdicts:
        print(f"{notebook}: no report path or verdict found in its output", file=sys.stderr)
        return 1
    md = (ROOT / "notebooks" / paths[0]).resolve()
    rel = Path(os.path.relpath(md, ROOT))
    print(f"report: {rel} (and {rel.with_suffix('.html')})")
    print(f"verdict: {verdicts[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
