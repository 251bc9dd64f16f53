# The tick: every minute (UTC), Cloud Scheduler publishes `{}` to the ticks
# topic; the finalize function's push subscription turns it into a run.
# Scheduler publishes with its service agent, so no grant is needed here.

resource "google_cloud_scheduler_job" "tick" {
  project     = var.project_id
  region      = var.region
  name        = "${local.prefix}finalize-tick"
  description = "Wakes the finalize function every minute."
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"
  paused      = var.scheduler_paused
  pubsub_target {
    topic_name = google_pubsub_topic.this["ticks"].id
    data       = base64encode("{}")
    attributes = {
      source = "cloud-scheduler"
    }
  }
  # A missed tick is made good by the next one a minute later.
  retry_config {
    retry_count = 0
  }
  depends_on = [google_project_service.this]
}
