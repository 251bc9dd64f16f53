# Staging. project_id comes from the command line or Cloud Build.
region = "europe-west1"

firestore = {
  location = "europe-west1"
}

files_bucket = {
  delete_after_days            = 90
  noncurrent_delete_after_days = 14
}

pipeline = {
  finalize_delay_seconds = 900
  state_retention_days   = 14
}

# REQUIRED outside dev (the plan refuses to run without): who is paged.
# Either existing channels (projects/<project>/notificationChannels/<id>) or
# e-mail addresses that get a channel made here.
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
