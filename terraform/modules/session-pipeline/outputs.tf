output "dead_letter_subscriptions" {
  description = "Subscriptions holding each function's dead letters."
  value = {
    for k, s in google_pubsub_subscription.dead_letter : k => s.id
  }
}

output "files_bucket" {
  description = "Bucket of the metadata and data-stream files."
  value       = google_storage_bucket.files.name
}

output "firestore_database" {
  description = "Firestore database id."
  value       = google_firestore_database.this.name
}

output "functions" {
  description = "Deployed functions: name, URL and runtime service account."
  value = {
    for k, f in google_cloudfunctions2_function.this : k => {
      name            = f.name
      uri             = f.service_config[0].uri
      service_account = google_service_account.function[k].email
    }
  }
}

output "push_service_account" {
  description = "Identity of the push subscriptions (OIDC tokens)."
  value       = google_service_account.push.email
}

output "secrets" {
  description = "CRM credential secrets, by environment variable; add their versions with gcloud."
  value = {
    for k, s in data.google_secret_manager_secret.crm : k => s.secret_id
  }
}

output "source_bucket" {
  description = "Bucket of the functions' source archives."
  value       = google_storage_bucket.sources.name
}

output "topics" {
  description = "Topic ids by role; publishers of platform events use `events`."
  value       = { for k, t in google_pubsub_topic.this : k => t.id }
}

output "operator" {
  description = <<-EOT
    What `sessionctl --env ENV` needs to reach this environment (it reads
    `terraform output -json operator`): project, database, collections,
    topics, bucket, the dead-letter holds and where their messages came from.
  EOT
  value = {
    environment        = var.environment
    project_id         = var.project_id
    firestore_database = google_firestore_database.this.name
    bucket             = google_storage_bucket.files.name
    object_prefix      = var.pipeline.object_prefix
    collections        = local.collections
    topics             = local.topics
    finalize_delay     = var.pipeline.finalize_delay_seconds
    # Whether a finalized session gets a CRM record or a webhook post (smoke waits for it).
    crm = {
      kind    = try(var.crm.settings.kind, "none")
      webhook = var.crm.webhook_url != ""
    }
    # trigger -> the hold subscription and the topic its messages go back to.
    holds = {
      for k, t in local.triggers : k => {
        subscription = google_pubsub_subscription.dead_letter[k].name
        topic        = local.topics[t.topic]
      }
    }
  }
}
