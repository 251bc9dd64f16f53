#!/usr/bin/env bash
# Offline checks of terraform/: formatting and checkov. No cloud, no provider
# download. The HCL-against-code assertions are pytest tests (tests/terraform).
#
# checkov runs from its own virtual environment (.venv-checkov), created here
# when missing, because its pins clash with the project's.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION="3.3.30"
CHECKOV_VENV="${CHECKOV_VENV:-.venv-checkov}"
PYTHON="${PYTHON:-python3}"

# A CLI config file that is named but missing only produces warnings.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -f "${TF_CLI_CONFIG_FILE}" ]]; then
  unset TF_CLI_CONFIG_FILE
fi

if ! command -v terraform >/dev/null 2>&1; then
  echo "terraform_check: terraform is not on PATH (needed for 'terraform fmt -check')" >&2
  exit 1
fi

start=$SECONDS
echo "== terraform fmt -check -recursive terraform ($(terraform version | head -n1))"
if ! terraform fmt -check -recursive -diff terraform; then
  echo "terraform_check: run 'terraform fmt -recursive terraform'" >&2
  exit 1
fi
echo "   formatted ($((SECONDS - start))s)"

if [[ "$("${CHECKOV_VENV}/bin/checkov" --version 2>/dev/null || true)" != "${CHECKOV_VERSION}" ]]; then
  echo "== installing checkov ${CHECKOV_VERSION} into ${CHECKOV_VENV}"
  log="$(mktemp)"
  if ! { "${PYTHON}" -m venv --clear "${CHECKOV_VENV}" \
      && "${CHECKOV_VENV}/bin/pip" install --quiet --disable-pip-version-check \
        "checkov==${CHECKOV_VERSION}"; } >"${log}" 2>&1; then
    cat "${log}" >&2
    exit 1
  fi
  rm -f "${log}"
fi

start=$SECONDS
echo "== checkov -d terraform (skips are justified in place: #checkov:skip=ID:reason)"
grep -rhoE "#checkov:skip=[A-Z0-9_]+:.*" terraform --include='*.tf' | sed 's/^/   /' | sort | uniq
"${CHECKOV_VENV}/bin/checkov" \
  --directory terraform \
  --framework terraform \
  --skip-download \
  --quiet \
  --compact \
  --output cli
echo "   checkov passed ($((SECONDS - start))s)"
