#!/usr/bin/env bash
# Print the path of a CPython of the functions' runtime (3.11), installed by uv.
#
# The build image's own Python is whatever its Debian release ships (3.13 on
# newer images); the functions run python311. uv comes from PyPI at the version
# and hashes pinned in requirements/dev.txt, and verifies the interpreter it
# downloads (python-build-standalone) against the checksums it ships with.
#   PY="$(bash scripts/ci_python.sh)" && make test PY="$PY"
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_VERSION="${PYTHON_VERSION:-3.11.18}"
BOOT="${BOOT_VENV:-/tmp/uv-boot}"
# Inside the work tree: Cloud Build keeps /workspace from step to step, so the .venv made
# on this interpreter still works in the later steps (stage, smoke).
export UV_PYTHON_INSTALL_DIR="${UV_PYTHON_INSTALL_DIR:-$PWD/.python}"

# The uv pin with its hashes, cut out of the dev lock.
pin="$(mktemp)"
awk '/^uv==/{keep=1} keep{print} keep && !/\\$/{exit}' requirements/dev.txt >"${pin}"
grep -q '^uv==' "${pin}" || { echo "ci_python: no uv pin in requirements/dev.txt" >&2; exit 1; }

if [[ ! -x "${BOOT}/bin/uv" ]]; then
  python3 -m venv "${BOOT}" >&2
  "${BOOT}/bin/pip" install -q --require-hashes --no-deps -r "${pin}" >&2
fi
"${BOOT}/bin/uv" python install "${PYTHON_VERSION}" >&2
"${BOOT}/bin/uv" python find "${PYTHON_VERSION}"
