# Log-based metrics and alert policies: dead-lettered and quarantined
# messages, and finalization lag.

locals {
  function_logs = {
    for name in keys(local.functions) : name => join(" AND ", [
      "resource.type=\"cloud_run_revision\"",
      "resource.labels.service_name=\"${local.prefix}${replace(name, "_", "-")}\"",
    ])
  }
}

# Seconds from a session's due time to its files being written; the
# finalize_worker function logs `lag_seconds` with "session finalized".
resource "google_logging_metric" "finalization_lag" {
  project = var.project_id
  name    = "${local.prefix}session-finalization-lag"
  filter = join(" AND ", [
    local.function_logs["finalize_worker"],
    "jsonPayload.message=\"session finalized\"",
    "jsonPayload.lag_seconds>=0",
  ])
  value_extractor = "EXTRACT(jsonPayload.lag_seconds)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "Session finalization lag"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 1.5
      scale              = 1
    }
  }
  depends_on = [google_project_service.this]
}

# Messages the ingest function rejected and quarantined (acknowledged, so
# they never reach a dead-letter topic).
resource "google_logging_metric" "quarantined" {
  project = var.project_id
  name    = "${local.prefix}session-events-quarantined"
  filter = join(" AND ", [
    local.function_logs["ingest"],
    "jsonPayload.message=~\"^rejected message\"",
  ])
  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason)"
  }
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Quarantined session events"
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Why the message was rejected"
    }
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: dead-lettered messages"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.alerting.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Messages exhausted their delivery attempts and were parked on a
      dead-letter topic. Read them from the `*-dead-letter-hold`
      subscription, fix the cause, then republish them (docs/deploy.md).
    EOT
  }
  dynamic "conditions" {
    for_each = local.triggers
    content {
      display_name = "${local.subscriptions[conditions.key]}: dead letters waiting"
      condition_threshold {
        filter = join(" AND ", [
          "resource.type=\"pubsub_subscription\"",
          "resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter[conditions.key].name}\"",
          "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
        ])
        comparison      = "COMPARISON_GT"
        threshold_value = 0
        duration        = "0s"
        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }
      }
    }
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "finalization_lag" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: finalization lag"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.alerting.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Sessions are written late: the finalize workers fall behind (raise
      function_config.finalize_worker max_instances or concurrency) or keep
      failing. Look at the finalize and finalize_worker functions' logs.
    EOT
  }
  conditions {
    display_name = "95th percentile lag above ${var.alerting.finalization_lag_seconds}s"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "metric.type=\"logging.googleapis.com/user/${google_logging_metric.finalization_lag.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.finalization_lag_seconds
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }
    }
  }
  # No run has succeeded for a while: ticks pile up unacknowledged.
  conditions {
    display_name = "ticks unacknowledged for over ${var.alerting.finalization_lag_seconds}s"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type=\"pubsub_subscription\"",
        "resource.labels.subscription_id=\"${google_pubsub_subscription.push["finalize_ticks"].name}\"",
        "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.finalization_lag_seconds
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "quarantined" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: quarantined events"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.alerting.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The ingest function rejected platform events (see the `reason`
      label). They are kept in the Firestore quarantine collection and can
      be replayed with `sessionctl quarantine replay ID` once the cause is fixed.
    EOT
  }
  conditions {
    display_name = "more than ${var.alerting.quarantined_per_5min} quarantined in 5 min"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "metric.type=\"logging.googleapis.com/user/${google_logging_metric.quarantined.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.quarantined_per_5min
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  depends_on = [google_project_service.this]
}
