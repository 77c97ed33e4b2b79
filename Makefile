# Every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint fmt bench schemas redis clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[gateway,operator,harness,test]'
	rm -f $(VENV)/.installed-*; touch $@

redis:
	@command -v redis-server >/dev/null 2>&1 || scripts/install-redis

demo: setup
	$(BIN)/fleetctl validate examples/northwind
	$(BIN)/fleetctl compile examples/northwind -o build/northwind -n fleet-system
	$(BIN)/fleetctl ls examples/northwind
	$(BIN)/fleetctl who-touches merge_pr examples/northwind
	$(BIN)/fleetctl gateway config examples/northwind -o build/gateway.json --tokens-out build/gateway-tokens.json
	BIN=$(BIN) bash examples/northwind/demo/run.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup redis lint
	$(PY) -m pytest

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: setup
	$(BIN)/fleetctl schema --write schemas

bench: setup
	$(PY) bench/validate.py
	$(PY) bench/compile.py
	$(PY) bench/diff.py
	$(PY) bench/gateway/run.py
	$(PY) bench/gateway/chunks.py
	$(PY) -m bench.mcp.run
	$(PY) -m bench.harness.run
	$(PY) bench/operator/scale.py

clean:
	rm -rf build .mypy_cache .ruff_cache
