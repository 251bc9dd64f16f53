output "dead_letter_subscriptions" {
  description = "Subscriptions holding each function's dead letters."
  value       = module.pipeline.dead_letter_subscriptions
}

output "files_bucket" {
  description = "Bucket of the metadata and data-stream files."
  value       = module.pipeline.files_bucket
}

output "functions" {
  description = "Deployed functions: name, URL and runtime service account."
  value       = module.pipeline.functions
}

output "secrets" {
  description = "CRM credential secrets, by environment variable."
  value       = module.pipeline.secrets
}

output "topics" {
  description = "Topic ids; platform events are published to `events`."
  value       = module.pipeline.topics
}

output "operator" {
  description = "What `sessionctl --env ENV` reads to reach this environment."
  value       = module.pipeline.operator
}
