#!/usr/bin/env bash
# Execute one parameterised notebook for one scenario with papermill.
#
#   scripts/run_report.sh SCENARIO [NOTEBOOK] [OUTDIR] [-- extra papermill args...]
#
#   SCENARIO  scenario name or path; passed to the notebook as the string parameter `scenario`
#   NOTEBOOK  default notebooks/12_strategy_report.ipynb
#   OUTDIR    default build   (NOTEBOOK and OUTDIR are relative to the repo root)
#
# Output: OUTDIR/<slug>.ipynb, where <slug> is SCENARIO without directory and extension.
# The run writes OUTDIR/<slug>.tmp.ipynb first. papermill writes its output even when a cell
# fails, so on failure the file is renamed to OUTDIR/<slug>.failed.ipynb (the traceback is in
# it), a message goes to stderr, and the script exits 1. When you run several notebooks for the
# same scenario, give each its own OUTDIR.
# Uses $VENV/bin/papermill (VENV defaults to .venv), never a global papermill.
set -euo pipefail

if [[ $# -lt 1 || -z "$1" ]]; then
    echo "usage: $0 SCENARIO [NOTEBOOK] [OUTDIR] [-- papermill args...]" >&2
    exit 2
fi
scenario=$1; shift
notebook=notebooks/12_strategy_report.ipynb
outdir=build
if [[ $# -gt 0 && $1 != -- ]]; then notebook=$1; shift; fi
if [[ $# -gt 0 && $1 != -- ]]; then outdir=$1; shift; fi
if [[ $# -gt 0 && $1 == -- ]]; then shift; fi

# A scenario given as a file path is resolved from where make was run, then made relative to
# notebooks/, where the kernel runs (papermill --cwd notebooks).
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -f $scenario ]]; then
    scenario=$(realpath --relative-to="$root/notebooks" -- "$scenario")
fi
cd "$root"
VENV=${VENV:-.venv}
[[ $VENV == /* ]] || VENV=$root/$VENV      # absolute, so it also works from notebooks/
papermill=$VENV/bin/papermill

# Reproducible outputs; keep these identical to the Makefile's exports. No MPLBACKEND.
export IPYKERNEL_CELL_NAME='<IPY-INPUT>'
export SOURCE_DATE_EPOCH=0
export PYTHONHASHSEED=0

slug=$(basename -- "$scenario")
slug=${slug%.*}
mkdir -p "$outdir"
tmp=$outdir/$slug.tmp.ipynb
out=$outdir/$slug.ipynb
failed=$outdir/$slug.failed.ipynb
rm -f "$tmp" "$failed"

# Read the scenario first: bad input stops here with one clear line, before any notebook runs.
if ! (cd notebooks && "$VENV/bin/python" -m analysis check "$scenario" > /dev/null); then
    echo "scenario '$scenario' could not be read (see the error above); no report written" >&2
    exit 1
fi

# Every kernel start warns that it listens on localhost TCP without encryption (jupyter_client's
# default transport); it says nothing about this run, so that one line is dropped from stderr.
quiet_kernel() { grep -v --line-buffered "Kernel is running over TCP without encryption" >&2 || true; }

# -r: pass the scenario as a raw string (with -p, a name like "2024" would become an int).
if "$papermill" "$notebook" "$tmp" -k python3 --cwd notebooks --no-progress-bar \
        --execution-timeout 600 -r scenario "$scenario" "$@" 2> >(quiet_kernel); then
    mv -f "$tmp" "$out"
    echo "wrote $out"
else
    [[ -f $tmp ]] && mv -f "$tmp" "$failed"
    echo "papermill FAILED for scenario '$scenario': see $failed" >&2
    exit 1
fi
