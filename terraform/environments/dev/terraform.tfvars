# Development. project_id comes from the command line or Cloud Build:
#   terraform plan -var="project_id=my-dev-project"
region = "europe-west1"

firestore = {
  location               = "europe-west1"
  point_in_time_recovery = false
}

files_bucket = {
  delete_after_days            = 30
  noncurrent_delete_after_days = 7
  soft_delete_retention_days   = 0
}

pipeline = {
  finalize_delay_seconds = 900
  state_retention_days   = 7
}

pubsub = {
  message_retention = "86400s"
}

# dev may go without alert recipients (alerts show in the console).
alerting = {
  notification_channels = []
  emails                = []
}

# The CRM: rules (shared.crm.settings.CrmSettings, no credentials) and the
# credentials wired from Secret Manager; {} and [] create no CRM records.
crm = {
  settings    = {}
  credentials = []
  # settings    = { kind = "zendesk", base_url = "https://acme.zendesk.com", zendesk = { email = "api@acme.com" } }
  # credentials = ["CRM__ZENDESK__API_TOKEN"]
}

# Secret version each credential is read at (after `gcloud secrets versions
# add`, docs/deploy.md); "latest" when absent.
secret_versions = {
  # CRM__ZENDESK__API_TOKEN = "1"
}
