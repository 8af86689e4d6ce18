# MoEPlan build and test entry points. Run `make` (or `make help`) for the list.

VENV     ?= .venv
PY       := $(VENV)/bin/python
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
SCENARIO ?= seed
MODE     ?= derated
PLAN     ?=
N        ?= 10000
SEED     ?= 0
JOBS     ?= auto

# Same environment for the run that writes reference outputs and the run that checks them,
# so tracebacks, hashes and figure metadata are stable. Never export MPLBACKEND here: ipykernel
# then skips the inline backend and nbval fails on figures.
export IPYKERNEL_CELL_NAME := <IPY-INPUT>
export SOURCE_DATE_EPOCH   := 0
export PYTHONHASHSEED      := 0
export VENV

.DEFAULT_GOAL := help
.PHONY: help setup report browser test fuzz notebooks lab lint bench audit validate clean distclean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: VENV=$(VENV) SCENARIO=$(SCENARIO) MODE=$(MODE) PLAN=$(PLAN) JOBS=$(JOBS)"

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(STAMP) ## Create the venv (VENV, default .venv) and install requirements.txt (redone when it changes)

report: setup ## Run notebooks/12_strategy_report.ipynb for SCENARIO (MODE=derated|calibrated|sol) into build/<scenario>.ipynb and reports/<scenario>[-<mode>]/ (seed: also reports/seed-audit/audit.md)
	@case "$(MODE)" in derated|calibrated|sol) ;; *) echo "error: MODE = $(MODE): unknown" \
		"mode; valid: derated, calibrated, sol" >&2; exit 2;; esac
	scripts/run_report.sh $(SCENARIO) -- -r mode $(MODE)
	@if [ "$(SCENARIO)" = seed ] && [ "$(MODE)" = derated ]; then \
		$(PY) -m analysis audit examples/cards/seed-plan.md --out reports/seed-audit; fi
	@$(PY) scripts/report_summary.py "build/$$(basename -- "$(SCENARIO)" | sed 's/\.[^.]*$$//').ipynb"

test: setup ## Run pytest: unit tests plus nbval against committed notebook outputs, on JOBS workers (auto = one per core; JOBS=0 runs in this process)
	$(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--color=no -n $(JOBS) --dist loadfile tests notebooks

fuzz: setup ## Fuzz every verb with N mutated inputs (default 10000, SEED=0): counts by outcome and verb; failures kept in tests/fuzz/corpus/
	$(PY) -m tests.fuzz.run $(N) --seed $(SEED)

notebooks: setup ## Re-execute notebooks/[0-9]*.ipynb (or NB=...) and store their outputs
	scripts/refresh_notebooks.sh $(NB)

browser: ## Install Debian's chromium for the HTML report's browser test (root only; else says how)
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y --no-install-recommends chromium || \
		{ apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	else echo "make browser: needs root and apt-get (run: sudo apt-get install chromium);" \
		"the browser test is skipped without it" >&2; fi

lab: setup ## Start Jupyter Lab on 127.0.0.1 (no browser)
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root)

lint: setup ## Run ruff on analysis/ and tests/
	$(BIN)/ruff check analysis tests

bench: setup ## Run scripts/bench.py
	$(PY) scripts/bench.py

audit: setup ## Audit a plan: make audit PLAN=path/to/plan.md writes reports/<plan>-audit/audit.md
	@if [ -z "$(PLAN)" ]; then \
		echo "make audit: no plan given; run e.g. make audit PLAN=examples/cards/seed-plan.md" >&2; \
		exit 2; fi
	$(PY) -m analysis audit "$(PLAN)" --out "reports/$$(basename "$(PLAN)" .md | sed -e 's/[-_]plan$$//' -e 's/[^A-Za-z0-9._-]\{1,\}/-/g')-audit"

validate: setup ## Predictions vs published measurements: median and p90 |error| by metric, split and mode
	$(PY) -m analysis validate

clean: ## Remove build/ and __pycache__ directories
	rm -rf build
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## clean, and also remove the venv
	rm -rf $(VENV)
