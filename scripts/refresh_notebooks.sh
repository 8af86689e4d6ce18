#!/usr/bin/env bash
# Refresh the committed reference outputs of notebooks/[0-9]*.ipynb (what `make test` compares),
# or of the notebooks named as arguments.
# Each notebook runs with its default parameters (papermill injects nothing), then nbstripout drops
# papermill/nbclient timestamps but keeps outputs and execution counts, which nbval needs.
# Review `git diff notebooks/` before committing. A failing notebook is left in build/ and the
# committed notebook stays untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

# Keep identical to the Makefile's exports (the test run uses the same values). No MPLBACKEND.
export IPYKERNEL_CELL_NAME='<IPY-INPUT>'
export SOURCE_DATE_EPOCH=0
export PYTHONHASHSEED=0

shopt -s nullglob
if [[ $# -gt 0 ]]; then notebooks=("$@"); else notebooks=(notebooks/[0-9]*.ipynb); fi
if [[ ${#notebooks[@]} -eq 0 ]]; then
    echo "no notebooks/[0-9]*.ipynb to refresh" >&2
    exit 0
fi
mkdir -p build
status=0
for nb in "${notebooks[@]}"; do
    out=build/$(basename -- "$nb")
    echo "refreshing $nb"
    # drop the kernel's one-line "running over TCP without encryption" notice (see run_report.sh)
    if ! "$VENV/bin/papermill" "$nb" "$out" -k python3 --cwd notebooks --no-progress-bar \
            --execution-timeout 600 \
            2> >(grep -v --line-buffered "Kernel is running over TCP without encryption" >&2 || true); then
        echo "papermill FAILED for $nb: see $out" >&2
        status=1
        continue
    fi
    "$VENV/bin/nbstripout" --keep-output --keep-count \
        --extra-keys "metadata.papermill cell.metadata.papermill cell.metadata.execution" "$out"
    mv -f "$out" "$nb"
done
exit $status
