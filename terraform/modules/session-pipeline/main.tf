# The session pipeline: four Cloud Functions (2nd gen) around Pub/Sub,
# Firestore and a bucket. Files are named by concern:
#   services.tf   APIs the pipeline needs
#   firestore.tf  database, composite indexes, TTL policies
#   pubsub.tf     topics, push subscriptions, dead-letter topics
#   functions.tf  source bucket and archives, the functions, their settings
#   scheduler.tf  the every-minute tick
#   storage.tf    the bucket of metadata and data-stream files
#   secrets.tf    Secret Manager secrets of the CRM credentials
#   iam.tf        one service account per function, least privilege
#   monitoring.tf log-based metrics and alert policies

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  prefix = var.prefix == null ? "" : "${var.prefix}-"
  labels = merge(var.labels, { app = "session-pipeline" })

  # Firestore collection ids. They are the code's defaults, set here once so
  # that the indexes, the TTL policies and the functions' settings agree.
  collections = {
    chunks           = "chunks" # subcollection of a large quarantined message
    crm_dead_letters = "crm_dead_letters"
    crm_deliveries   = "crm_deliveries"
    crm_records      = "crm_records"
    crm_parked       = "crm_records_parked" # CRM jobs waiting out a throttle (named after crm_records)
    crm_routes       = "crm_records_routes" # open record per end user and leaf queue
    events           = "events"             # subcollection of each session
    quarantine       = "quarantine"
    sessions         = "sessions"
    ticks            = "finalize_ticks" # what each finalizer tick did
  }

  # The functions: key = directory under functions/ = staged archive name.
  functions = {
    crm = {
      entry_point = "crm"
      description = "Creates and updates CRM records: trigger jobs and finalized sessions."
    }
    finalize = {
      entry_point = "finalize"
      description = "On each tick, hands the due sessions out as finalize jobs."
    }
    finalize_worker = {
      entry_point = "finalize_worker"
      description = "Writes the files of the due sessions of one finalize job."
    }
    ingest = {
      entry_point = "ingest"
      description = "Stores platform events in Firestore."
    }
  }

  # What triggers each function: one push subscription per (topic, function),
  # each with its own dead-letter topic (see pubsub.tf).
  triggers = {
    crm_crm_jobs   = { topic = "crm_jobs", function = "crm" }
    crm_finalized  = { topic = "finalized", function = "crm" }
    finalize_ticks = { topic = "ticks", function = "finalize" }
    # Jobs scale the workers out: one request per job of finalize_job_size sessions.
    finalize_worker_jobs = { topic = "finalize_jobs", function = "finalize_worker" }
    ingest_events        = { topic = "events", function = "ingest" }
  }

  topics = {
    crm_jobs      = "${local.prefix}${var.topic_names.crm_jobs}"
    events        = "${local.prefix}${var.topic_names.events}"
    finalize_jobs = "${local.prefix}${var.topic_names.finalize_jobs}"
    finalized     = "${local.prefix}${var.topic_names.finalized}"
    ticks         = "${local.prefix}${var.topic_names.ticks}"
  }

  pubsub_agent = (
    "serviceAccount:service-${data.google_project.this.number}"
    + "@gcp-sa-pubsub.iam.gserviceaccount.com"
  )
}
