# Every target sets itself up: a virtual environment in .venv with the project installed.
# Dependencies come from the hashed lock (requirements/dev.txt, made by `make lock` from
# pyproject.toml); the project itself is installed on top without resolving anything.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock" -q

.PHONY: chaos-small setup demo test lint unit bench chaos clean terraform-check browser lock provider-schema

# Dependencies come from the hashed lock; the project and the development harness
# (devstack/, a distribution of its own that the runtime package and the staged functions
# never carry) are installed on top without resolving anything.
$(BIN)/sessionctl: pyproject.toml devstack/pyproject.toml requirements/dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip install -q --no-deps --no-build-isolation -e devstack
	$(BIN)/python scripts/check_lock.py
	touch $@

setup: $(BIN)/sessionctl provider-schema

# The Google provider's schema, from its npm package (exact version and integrity hash in
# tools/provider-schema/package-lock.json), for the offline schema check in tests/terraform.
provider-schema: tools/provider-schema/node_modules/.installed

tools/provider-schema/node_modules/.installed: tools/provider-schema/package-lock.json
	cd tools/provider-schema && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Re-resolve the lock after a change of pyproject.toml (needs the network).
lock:
	test -x $(BIN)/uv || { $(PY) -m venv $(VENV) && \
		$(BIN)/pip install -q --require-hashes --no-deps -r requirements/dev.txt; }
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements/runtime.txt $(LOCK_FLAGS) \
		-o requirements/dev.txt

demo: setup
	$(BIN)/sessionctl demo

lint: setup
	$(BIN)/ruff check shared sessionctl devstack functions tests scripts
	$(BIN)/ruff format --check shared sessionctl devstack functions tests scripts
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

# The figures of the benchmark suite: one table, bench-report.json (BENCH_SCALE=mid: quicker;
# BENCH_ONLY=P5,P7: only those figures).
bench: setup
	LOCAL_GCS_BACKEND=filesystem $(BIN)/pytest -q -s -p no:logging -m benchmark tests/benchmarks/test_bench.py

# The chaos run at full size (docs/chaos.md); chaos-small is the pytest run of tests/chaos
# (about 200 sessions; CHAOS_SESSIONS= changes it), which make test also runs.
SESSIONS ?= 1000
SEED ?= 7
chaos: setup
	$(BIN)/python -m devstack.chaos --sessions $(SESSIONS) --seed $(SEED) $(if $(BUG),--bug $(BUG))

chaos-small: setup
	$(BIN)/pytest -q -s -m chaos tests/chaos

clean:
	rm -rf $(VENV) build .sessionctl demo-output test-artifacts
