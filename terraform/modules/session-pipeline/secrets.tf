# Secret Manager secrets of the CRM credentials. Their values never pass
# through Terraform (nor its state); the crm function reads each as a secret
# environment variable at the version pinned in var.secret_versions.

locals {
  # Every credential the code reads (shared.config.Settings), by environment
  # variable, and the name of its secret.
  crm_secret_names = {
    CRM__EMAIL__PASSWORD           = "crm-email-password"
    CRM__FRESHDESK__API_KEY        = "crm-freshdesk-api-key"
    CRM__KUSTOMER__API_KEY         = "crm-kustomer-api-key"
    CRM__SALESFORCE__CLIENT_SECRET = "crm-salesforce-client-secret"
    CRM__ZENDESK__API_TOKEN        = "crm-zendesk-api-token"
    WEBHOOK_SECRET                 = "webhook-secret"
  }

  # Only the credentials this environment uses exist and are wired.
  crm_secrets = {
    for env, name in local.crm_secret_names : env => name
    if contains(var.crm.credentials, env)
  }
}

# The secrets are made, with their first value, before the release that uses
# them: `scripts/crm_secret.sh` (docs/deploy.md, "A new CRM credential"). So
# the plan already finds them, and one build wires a new credential into the
# function; a missing secret fails the plan, naming it, instead of the deploy.
# Terraform only reads their metadata, never a value.
data "google_secret_manager_secret" "crm" {
  for_each  = local.crm_secrets
  project   = var.project_id
  secret_id = "${local.prefix}${each.value}"
}

# Earlier versions created the secrets here: forget them without deleting them.
removed {
  from = google_secret_manager_secret.crm
  lifecycle {
    destroy = false
  }
}
