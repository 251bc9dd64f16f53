# Log-based metrics and alert policies: dead-lettered, quarantined and
# refused messages, parked CRM jobs, function errors, finalization lag and
# backlog. Every runbook names a `sessionctl` command that works against
# the deployed environment (tests/terraform holds each to a tested command).

locals {
  function_logs = {
    for name in keys(local.functions) : name => join(" AND ", [
      "resource.type=\"cloud_run_revision\"",
      "resource.labels.service_name=\"${local.prefix}${replace(name, "_", "-")}\"",
    ])
  }

  # How a runbook points sessionctl at this environment (docs/deploy.md).
  sessionctl = "sessionctl --env ${var.environment}"

  notification_channels = concat(
    var.alerting.notification_channels,
    [for c in google_monitoring_notification_channel.email : c.id],
  )
}

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alerting.emails)
  project      = var.project_id
  display_name = "${local.prefix}session pipeline on-call: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
  user_labels = local.labels
  depends_on  = [google_project_service.this]
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
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Messages exhausted their delivery attempts and were parked on a
      dead-letter topic; its `*-dead-letter-hold` subscription keeps them 7 days.
      See them with `${local.sessionctl} holds list`, fix the cause (the
      function's logs say why it failed), then put them back on their topic
      with `${local.sessionctl} holds republish TRIGGER` (or drop them with
      `${local.sessionctl} holds purge TRIGGER`).
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
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Sessions are written late: the finalize workers fall behind (raise
      function_config.finalize_worker max_instances or concurrency) or keep
      failing. `${local.sessionctl} status` prints the due sessions, the oldest
      due age and the live claims; then read the finalize and finalize_worker
      functions' logs.
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
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The ingest function rejected platform events (see the `reason`
      label). They are kept in the Firestore quarantine collection and can
      be listed with `${local.sessionctl} quarantine list` and replayed with
      `${local.sessionctl} quarantine replay ID` once the cause is fixed.
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

# --- CRM jobs refused for good ----------------------------------------------------------

# The crm function gave up on a job (the CRM refused it, or it kept failing)
# and kept it in the CRM dead letters; logged as "crm job dead-lettered".
resource "google_logging_metric" "crm_refused" {
  project = var.project_id
  name    = "${local.prefix}crm-jobs-refused"
  filter = join(" AND ", [
    local.function_logs["crm"],
    "jsonPayload.message=\"crm job dead-lettered\"",
  ])
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "CRM jobs refused for good"
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "crm_refused" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: CRM jobs refused"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The crm function gave up on CRM jobs: the CRM refused them or they kept
      failing. `${local.sessionctl} crm dead-letters` lists them with the
      error; once the cause is fixed (credentials, CRM rules, the CRM itself),
      `${local.sessionctl} crm replay ID` sends one again.
    EOT
  }
  conditions {
    display_name = "more than ${var.alerting.crm_refused_per_5min} refused in 5 min"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "metric.type=\"logging.googleapis.com/user/${google_logging_metric.crm_refused.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.crm_refused_per_5min
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

# --- The finalizer's tick report: backlog and parked CRM jobs ---------------------------

# Each tick logs "finalize tick" with batch_full (due sessions were left for
# the next tick), then drains the parked CRM jobs and logs "crm parked jobs"
# with oldest_parked_age_s.
resource "google_logging_metric" "finalize_backlog" {
  project = var.project_id
  name    = "${local.prefix}finalize-ticks-with-backlog"
  filter = join(" AND ", [
    local.function_logs["finalize"],
    "jsonPayload.message=\"finalize tick\"",
    "jsonPayload.batch_full=true",
  ])
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Finalizer ticks that left due sessions behind"
  }
  depends_on = [google_project_service.this]
}

resource "google_logging_metric" "crm_parked_age" {
  project = var.project_id
  name    = "${local.prefix}crm-parked-oldest-age"
  filter = join(" AND ", [
    local.function_logs["finalize"],
    "jsonPayload.message=\"crm parked jobs\"",
    "jsonPayload.oldest_parked_age_s>=0",
  ])
  value_extractor = "EXTRACT(jsonPayload.oldest_parked_age_s)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "Age of the oldest parked CRM job"
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

resource "google_monitoring_alert_policy" "finalize_backlog" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: finalize backlog"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Every tick for a while found the previous round of finalize jobs still
      out: the finalize workers fall behind the due sessions.
      `${local.sessionctl} status` prints the due sessions and the oldest due
      age; if it grows, raise function_config.finalize_worker max_instances or
      concurrency (each job is pipeline.finalize_job_size sessions).
    EOT
  }
  conditions {
    display_name = "due sessions left behind for ${var.alerting.finalize_backlog_seconds}s"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "metric.type=\"logging.googleapis.com/user/${google_logging_metric.finalize_backlog.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "${var.alerting.finalize_backlog_seconds}s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "crm_parked_age" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: parked CRM jobs waiting"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A CRM job has been parked (waiting for its session to be known) longer
      than ${var.alerting.crm_parked_age_seconds}s: its session's events may
      never arrive. `${local.sessionctl} status` prints the parked jobs and
      the oldest age; `${local.sessionctl} show SESSION_ID` shows whether the
      session is known.
    EOT
  }
  conditions {
    display_name = "oldest parked job older than ${var.alerting.crm_parked_age_seconds}s"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "metric.type=\"logging.googleapis.com/user/${google_logging_metric.crm_parked_age.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.crm_parked_age_seconds
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
      }
    }
  }
  depends_on = [google_project_service.this]
}

# --- Function errors --------------------------------------------------------------------

# Requests a function answered with 5xx: an exception (a transient failure
# the message is retried for), a timeout or a crash. Built-in Cloud Run metric.
resource "google_monitoring_alert_policy" "function_errors" {
  project               = var.project_id
  display_name          = "${local.prefix}session pipeline: function errors"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A function keeps failing (HTTP 5xx: exceptions, timeouts, crashes); its
      messages are redelivered and end in a dead-letter hold if it goes on.
      `${local.sessionctl} status` prints the backlog and the dead letters
      waiting; the function's logs (Cloud Run service of the condition) say why.
    EOT
  }
  dynamic "conditions" {
    for_each = local.functions
    content {
      display_name = "${local.prefix}${conditions.key}: over ${var.alerting.function_errors_per_5min} errors in 5 min"
      condition_threshold {
        filter = join(" AND ", [
          "resource.type=\"cloud_run_revision\"",
          "resource.labels.service_name=\"${local.prefix}${conditions.key}\"",
          "metric.type=\"run.googleapis.com/request_count\"",
          "metric.labels.response_code_class=\"5xx\"",
        ])
        comparison      = "COMPARISON_GT"
        threshold_value = var.alerting.function_errors_per_5min
        duration        = "0s"
        aggregations {
          alignment_period     = "300s"
          per_series_aligner   = "ALIGN_DELTA"
          cross_series_reducer = "REDUCE_SUM"
        }
      }
    }
  }
  depends_on = [google_project_service.this]
}
