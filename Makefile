# `make demo` and `make test` work on a fresh machine: they build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/sitcli: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	$(BIN)/python -m sitcli.warm   # numba's cache: the first backtest and sweep start warm
	touch $(BIN)/sitcli

.PHONY: demo test lint bench bench-smoke warm
demo: $(BIN)/sitcli
	$(BIN)/sitcli backtest --demo

# compile the kernels of a first backtest and sweep now (done after every install above)
warm: $(BIN)/sitcli
	$(BIN)/python -m sitcli.warm

# every core (pytest-xdist); tests marked xdist_group share a worker (vectorbt's compiling and
# the --detail kernels' are paid once); the benchmark smoke tests are left to `make bench-smoke`
test: $(BIN)/sitcli
	$(BIN)/python -m pytest -q -n auto --dist loadgroup --durations=10

lint: $(BIN)/sitcli
	$(BIN)/ruff check sitcli tests strategies

# every benchmark of DESIGN §8 as one JSON document on stdout (a few minutes)
bench: $(BIN)/sitcli
	@$(BIN)/python tests/benchmarks/bench_suite.py

# the benchmark scripts in their reduced mode, so they cannot rot (a few minutes; .ci/run)
bench-smoke: $(BIN)/sitcli
	SITCLI_BENCH_SMOKE=1 $(BIN)/python -m pytest -q tests/test_benchmarks.py
