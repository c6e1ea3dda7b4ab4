# Every target bootstraps .venv itself, so a fresh clone needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv crawl demo cluster-demo test lint bench browse clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,browse,cluster]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

## Crawl the real site into output/ (lock, log file, run report; non-zero exit on failure).
crawl: $(STAMP)
	$(BIN)/hepza-run

## Serve the local replica on a free port, crawl it with the same spider, print a summary.
demo: $(STAMP)
	$(BIN)/python -m tests.demo

## A cluster crawl here: redis-server, PostgreSQL, three replica portals, three workers, summary.
cluster-demo: $(STAMP)
	$(BIN)/python -m tests.cluster_demo

## The whole test suite (starts the replica and a PostgreSQL server itself).
test: $(STAMP)
	$(BIN)/ruff check crawler pipelines tests
	$(BIN)/ruff format --check crawler pipelines tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check crawler pipelines tests
	$(BIN)/ruff format --check crawler pipelines tests
	$(BIN)/mypy

## Benchmarks (not part of the test suite): prints every target reached / NOT reached, writes
## output/bench/results.md, fails when a target is missed. `make bench BENCH_ARGS=--quick`.
## Then the cluster stage (1, 2, 4 workers; needs redis-server and PostgreSQL): a second table,
## fails on a wrong crawl. `BENCH_ARGS="--cluster-only --cluster-sizes 2000"` or `--no-cluster`.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

## Open the crawled SQLite database in Datasette on http://127.0.0.1:8001 (facets, search).
## `make browse BROWSE_ARGS="--port 8002 --database-url sqlite:///path.sqlite3"`.
browse: $(STAMP)
	$(BIN)/python -m crawler.browse $(BROWSE_ARGS)

## Remove the virtualenv and the caches the tools leave behind. Never the data: the database,
## run reports, feeds and exports under output/ stay (delete them yourself if you mean to).
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find crawler pipelines tests -name __pycache__ -type d -prune -exec rm -rf {} +
