# Quick start: `make demo` (fit the bundled theophylline example, plots, VPC, HTML report) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-long lint bench clean catalogue

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# fit theo_sd (tables, diagnostic plots, HTML report in out/), then add the VPC and pcVPC
demo: $(STAMP)
	$(BIN)/popkin fit estimation/examples/theo_sd.csv --model oral_1cmt --error add --out out --force
	$(BIN)/popkin vpc out
	@echo "demo done: open $(CURDIR)/out/report.html in a browser"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow" --durations=10 tests

test-slow: $(STAMP)
	POPKIN_TEST_FULL_OPT=1 $(BIN)/python -m pytest -v -m "slow and not long" tests

# validation fits too long for CI's 90 minutes (library simulate-then-estimate of transit_1cmt,
# the analytic transit, Friberg, mixed and oral MM elimination, IDR II-IV, full and QSS TMDD:
# about 100 min in all)
test-long: $(STAMP)
	POPKIN_TEST_FULL_OPT=1 $(BIN)/python -m pytest -v -m long tests

lint: $(STAMP)
	$(BIN)/ruff check .

catalogue: $(STAMP)
	$(BIN)/python -m model_library.catalogue docs/model_catalogue.md

# the benchmarks with their Python peer (pynlme); R nlme runs where Rscript is installed
# (apt-get install r-base-core r-cran-nlme) and is skipped with a message otherwise
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache
