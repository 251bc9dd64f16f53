# APIs the pipeline uses. They stay enabled on destroy: other workloads in
# the project may depend on them.

locals {
  services = [
    "artifactregistry.googleapis.com", # images built from the sources
    "cloudbuild.googleapis.com",       # builds the functions
    "cloudfunctions.googleapis.com",   # the functions
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # the tick
    "firestore.googleapis.com",      # state
    "iam.googleapis.com",            # service accounts
    "logging.googleapis.com",        # log-based metrics
    "monitoring.googleapis.com",     # alert policies
    "pubsub.googleapis.com",         # topics and subscriptions
    "run.googleapis.com",            # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",  # CRM credentials
    "storage.googleapis.com",        # files and sources
  ]
}

resource "google_project_service" "this" {
  for_each                   = var.enable_apis ? toset(local.services) : []
  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}
