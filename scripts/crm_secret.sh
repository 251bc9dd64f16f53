#!/usr/bin/env bash
# Put a CRM credential in Secret Manager before the release that uses it.
#
#   printf '%s' "$TOKEN" | bash scripts/crm_secret.sh PROJECT_ID CRM__ZENDESK__API_TOKEN [PREFIX]
#
# Creates the secret if it does not exist (automatic replication, the labels
# Terraform used to set) and adds the value from stdin as a new version; prints
# the version number to pin in secret_versions. The value never reaches
# Terraform or its state. Then list the variable in crm.credentials (and pin
# the version) in terraform.tfvars and release: one build wires it in.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: printf '%s' VALUE | $0 PROJECT_ID ENV_VAR [PREFIX]" >&2
  exit 2
fi
project="$1" var="$2" prefix="${3:-}"

case "${var}" in
  CRM__EMAIL__PASSWORD | CRM__FRESHDESK__API_KEY | CRM__KUSTOMER__API_KEY | \
    CRM__SALESFORCE__CLIENT_SECRET | CRM__ZENDESK__API_TOKEN | WEBHOOK_SECRET) ;;
  *)
    echo "crm_secret: ${var} is not a credential the crm function reads (secrets.tf)" >&2
    exit 2
    ;;
esac
if [[ -t 0 ]]; then
  echo "crm_secret: pipe the value on stdin (it is never an argument)" >&2
  exit 2
fi

# CRM__ZENDESK__API_TOKEN -> crm-zendesk-api-token, as local.crm_secret_names in secrets.tf.
name="$(printf '%s' "${var}" | tr 'A-Z' 'a-z' | sed -e 's/__*/-/g')"
[[ -n "${prefix}" ]] && name="${prefix}-${name}"

if ! gcloud secrets describe "${name}" --project="${project}" >/dev/null 2>&1; then
  gcloud secrets create "${name}" --project="${project}" --replication-policy=automatic \
    --labels=app=session-pipeline >&2
fi
version="$(gcloud secrets versions add "${name}" --project="${project}" --data-file=- \
  --format='value(name)')"
version="${version##*/}"
echo "secret ${name}: version ${version}; pin it: secret_versions = { ${var} = \"${version}\" }" >&2
echo "${version}"
