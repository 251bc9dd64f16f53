# Production. project_id comes from the command line or Cloud Build.
region = "europe-west1"

firestore = {
  location               = "eur3" # multi-region: survives a regional outage
  point_in_time_recovery = true
}

files_bucket = {
  # Files are kept (no delete_after_days); replaced versions for 90 days.
  noncurrent_delete_after_days = 90
  soft_delete_retention_days   = 30
}

pipeline = {
  finalize_delay_seconds = 900
  state_retention_days   = 30
}

function_config = {
  ingest = {
    max_instances = 100
  }
}

pubsub = {
  max_delivery_attempts = 20
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
