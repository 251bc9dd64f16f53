# Identities and grants. One runtime service account per function, one for
# Pub/Sub push deliveries; every role on the narrowest resource that takes
# it. tests/terraform keeps the roles inside an allowed list.

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = "${local.prefix}${replace(each.key, "_", "-")}-fn"
  display_name = "session pipeline: ${each.key} function"
  depends_on   = [google_project_service.this]
}

# Signs the OIDC tokens of the push subscriptions.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${local.prefix}pubsub-push"
  display_name = "session pipeline: Pub/Sub push to the functions"
  depends_on   = [google_project_service.this]
}

# --- Firestore: project level, as Firestore has no narrower IAM resource.

resource "google_project_iam_member" "datastore_user" {
  for_each = local.functions
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = google_service_account.function[each.key].member
}

# --- finalize (the tick): hands the due sessions out as finalize jobs.

resource "google_pubsub_topic_iam_member" "finalize_jobs_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.this["finalize_jobs"].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.function["finalize"].member
}

# --- finalize_worker: reads back and overwrites its files (generation
# preconditions need get + update), publishes finalized notices.

resource "google_storage_bucket_iam_member" "finalize_files" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["finalize_worker"].member
}

resource "google_pubsub_topic_iam_member" "finalize_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.this["finalized"].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.function["finalize_worker"].member
}

# --- ingest: queues CRM trigger jobs.

resource "google_pubsub_topic_iam_member" "ingest_crm_jobs" {
  project = var.project_id
  topic   = google_pubsub_topic.this["crm_jobs"].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.function["ingest"].member
}

# --- crm: reads the files and its credentials.

resource "google_storage_bucket_iam_member" "crm_files" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["crm"].member
}

resource "google_secret_manager_secret_iam_member" "crm_accessor" {
  for_each  = local.crm_secrets
  project   = var.project_id
  secret_id = data.google_secret_manager_secret.crm[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function["crm"].member
}

# --- The platform sending the events.

resource "google_pubsub_topic_iam_member" "event_publishers" {
  for_each = toset(var.event_publishers)
  project  = var.project_id
  topic    = google_pubsub_topic.this["events"].name
  role     = "roles/pubsub.publisher"
  member   = each.value
}

# --- Push deliveries: the push identity may invoke each function.

resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.functions
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# --- Pub/Sub service agent: mints the push tokens (needed on projects whose
# agent predates April 2021), forwards dead letters, and acknowledges the
# forwarded messages on the source subscriptions.

resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter" {
  for_each = local.triggers
  project  = var.project_id
  topic    = google_pubsub_topic.dead_letter[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_source" {
  for_each     = local.triggers
  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
