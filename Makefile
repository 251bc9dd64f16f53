# Every target sets itself up: a virtual environment in .venv with the project installed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint unit bench chaos clean terraform-check browser

# The development harness (devstack/) is a distribution of its own, installed here only:
# the runtime package and the staged functions never carry it.
$(BIN)/sessionctl: pyproject.toml devstack/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps -e devstack
	touch $@

setup: $(BIN)/sessionctl

demo: setup
	$(BIN)/sessionctl demo

lint: setup
	$(BIN)/ruff check shared sessionctl devstack functions tests
	$(BIN)/ruff format --check shared sessionctl devstack functions tests
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q tests/unit

terraform-check:
	bash scripts/terraform_check.sh

# Headless Chromium for the report's browser tests: Debian's packages, installed when missing
# (as root, as CI runs; through sudo elsewhere). Nothing downloads a browser of its own.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing chromium and chromium-driver (Debian packages)"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install \
	    -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null; \
	fi

test: setup lint terraform-check browser
	$(BIN)/pytest -q -m "not benchmark"

# The figures of the benchmark suite: one table, bench-report.json (BENCH_SCALE=mid: quicker).
bench: setup
	$(BIN)/pytest -q -s -p no:logging -m benchmark tests/benchmarks/test_bench.py

# The chaos run at full size (docs/chaos.md); make test runs a small one (tests/chaos).
SESSIONS ?= 1000
SEED ?= 7
chaos: setup
	$(BIN)/python -m devstack.chaos --sessions $(SESSIONS) --seed $(SEED) $(if $(BUG),--bug $(BUG))

clean:
	rm -rf $(VENV) build .sessionctl demo-output test-artifacts
