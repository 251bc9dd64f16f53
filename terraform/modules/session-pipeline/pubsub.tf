# Topics, the push subscriptions that trigger the functions, and their
# dead-letter topics.
#
# Why push subscriptions and not the functions' `event_trigger`: Eventarc
# creates and owns the trigger's subscription, and neither it nor the
# provider can attach a dead-letter topic to it (hashicorp/
# terraform-provider-google#25069). A subscription of our own gives the
# functions the same CloudEvent (the functions framework converts the push
# body, `data.message` is identical), plus a dead-letter policy and a retry
# policy that we set on purpose: redelivery with backoff on any error (the
# code raises only on transient errors and acknowledges bad input itself),
# and after `max_delivery_attempts` the message is parked on the
# dead-letter topic instead of being dropped.

resource "google_pubsub_topic" "this" {
  #checkov:skip=CKV_GCP_83:Google-managed keys, as for Firestore and the bucket that hold the same data; CMEK on topics alone adds cost, not protection.
  for_each = local.topics
  project  = var.project_id
  name     = each.value
  labels   = local.labels
  # Lets an operator seek a subscription back after a bad deploy; ticks are
  # worthless once the next one came, so that topic keeps them briefly.
  message_retention_duration = (
    each.key == "ticks" ? var.pubsub.tick_retention : var.pubsub.topic_retention
  )
  depends_on = [google_project_service.this]
}

# Subscription names follow the local stack: <topic>-<function>.
locals {
  subscriptions = {
    for k, t in local.triggers : k => "${local.topics[t.topic]}-${t.function}"
  }
  # Redelivery backoff: one file read here and by the local stack, so both back off alike.
  retry_policy = jsondecode(file("${path.module}/retry_policy.json"))

  # Delivery settings per trigger: ticks are sized to the one-minute period
  # (variables.tf, pubsub.tick_*), everything else to outlast a burst.
  delivery = {
    for k, t in local.triggers : k => (
      t.topic == "ticks"
      ? {
        retention       = var.pubsub.tick_retention
        maximum_backoff = var.pubsub.tick_maximum_backoff
        attempts        = var.pubsub.tick_delivery_attempts
      }
      : {
        retention       = var.pubsub.message_retention
        maximum_backoff = coalesce(var.pubsub.maximum_backoff, local.retry_policy.maximum_backoff)
        attempts        = var.pubsub.max_delivery_attempts
      }
    )
  }
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed keys, as for the source topics (same data).
  for_each   = local.triggers
  project    = var.project_id
  name       = "${local.subscriptions[each.key]}-dead-letter"
  labels     = local.labels
  depends_on = [google_project_service.this]
}

# Holds dead letters until an operator looks at them (a topic without a
# subscription drops what it receives).
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.triggers
  project                    = var.project_id
  name                       = "${local.subscriptions[each.key]}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s" # the maximum, 7 days
  retain_acked_messages      = false
  expiration_policy {
    ttl = "" # never expires
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.triggers
  project  = var.project_id
  name     = local.subscriptions[each.key]
  topic    = google_pubsub_topic.this[each.value.topic].id
  labels   = local.labels
  # For push, the ack deadline is the HTTP timeout: keep it above the
  # function's own timeout so a slow run is not delivered twice at once.
  ack_deadline_seconds = min(
    600, var.function_config[each.value.function].timeout_seconds + 30
  )
  message_retention_duration = local.delivery[each.key].retention
  retain_acked_messages      = false
  expiration_policy {
    ttl = "" # never expires, however quiet the topic
  }
  retry_policy {
    minimum_backoff = coalesce(var.pubsub.minimum_backoff, local.retry_policy.minimum_backoff)
    maximum_backoff = local.delivery[each.key].maximum_backoff
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = local.delivery[each.key].attempts
  }
  push_config {
    # The topic in the path becomes the CloudEvent's source.
    push_endpoint = join("", [
      local.function_uris[each.value.function],
      "/projects/${var.project_id}/topics/${local.topics[each.value.topic]}",
    ])
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.function_uris[each.value.function]
    }
  }
  depends_on = [
    google_cloud_run_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_agent_token_creator,
  ]
}
