# Every target bootstraps .venv itself, so a fresh clone needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: help venv crawl demo cluster-demo test test-quick lint docs bench browse clean

## Every target, one line each.
help:
	@awk '/^## /{doc=substr($$0, 4); next} /^[a-z-]+:/{if (doc != "") {split($$1, t, ":"); printf "  make %-14s %s\n", t[1], doc}; doc=""} !/^## /{if ($$0 !~ /^[a-z-]+:/) doc=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,browse,cluster]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

## Crawl the real site into output/ with hepza-run (lock, log file, run report; make exits 2 on any failure).
crawl: $(STAMP)
	$(BIN)/hepza-run

## Serve the local replica on a free port, crawl it, print a summary and what to try next.
demo: $(STAMP)
	$(BIN)/python -m tests.demo

## A cluster crawl here: redis-server, PostgreSQL, three replica portals, three workers, summary.
cluster-demo: $(STAMP)
	$(BIN)/python -m tests.cluster_demo

# TEST_JOBS processes take whole test files (`--dist loadfile`: a file's module fixtures are
# built once); TEST_JOBS=0 runs the suite in this one process. The 15 slowest tests are listed.
TEST_JOBS ?= 2
## The whole test suite: lint, then every test (starts the replica, PostgreSQL and Redis itself).
test: lint
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile --durations=15

## The tests not marked e2e, postgres or redis: the quicker loop while working.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e and not postgres and not redis"

## ruff, ruff format, mypy, the layers (import-linter), the generated docs up to date.
lint: $(STAMP)
	$(BIN)/ruff check crawler pipelines tests
	$(BIN)/ruff format --check crawler pipelines tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m crawler.setup.settings_doc --check
	$(BIN)/python -m pipelines.schema --check

## Regenerate docs/settings.md (from crawler/settings.py) and the record schema files.
docs: $(STAMP)
	$(BIN)/python -m crawler.setup.settings_doc
	$(BIN)/python -m pipelines.schema

# Not part of the test suite: prints every target reached / NOT reached, writes
# output/bench/results.md and the stages it ran into docs/benchmarks.md (each stage keeps its
# latest run), fails when a target is missed. Stages: the crawl sizes, archive, event dates,
# cluster, many portals, analysts (10k/100k/1M databases), --rerun-memory. `make bench
# BENCH_ARGS="--quick"`, `--no-cluster`, `--cluster-only`, `--portals-only`, `--analysts`
# (that stage alone).
## Benchmarks: writes docs/benchmarks.md (hours with the analysts' 1M databases; BENCH_ARGS=--quick: minutes).
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

# `make browse BROWSE_ARGS="--port 8002 --database-url sqlite:///path.sqlite3"`.
## The crawled database in Datasette on http://127.0.0.1:8001 (facets, search).
browse: $(STAMP)
	$(BIN)/python -m crawler.ops.browse $(BROWSE_ARGS)

# Never the data: the database, run reports, feeds and exports under output/ stay.
## Remove the virtualenv and the tools' caches; never output/.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find crawler pipelines tests -name __pycache__ -type d -prune -exec rm -rf {} +
