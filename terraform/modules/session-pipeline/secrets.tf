# Secret Manager secrets of the CRM credentials. Terraform creates the
# secrets only: their values are added outside Terraform
# (`gcloud secrets versions add`, see docs/deploy.md), so they never reach
# the state. The crm function reads each as a secret environment variable.

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

resource "google_secret_manager_secret" "crm" {
  for_each            = local.crm_secrets
  project             = var.project_id
  secret_id           = "${local.prefix}${each.value}"
  labels              = local.labels
  deletion_protection = var.deletion_protection
  replication {
    auto {}
  }
  depends_on = [google_project_service.this]
}
