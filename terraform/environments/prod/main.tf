# Production: stateful resources are protected (deletion_protection = true).

module "pipeline" {
  source = "../../modules/session-pipeline"

  project_id          = var.project_id
  environment         = "prod"
  region              = var.region
  deletion_protection = true
  # Written by `sessionctl stage --out build/functions` at the repo root.
  function_source_dir = "${path.root}/../../../build/functions"
  labels              = { environment = "prod" }

  alerting              = var.alerting
  build_service_account = var.build_service_account
  crm                   = var.crm
  event_publishers      = var.event_publishers
  files_bucket          = var.files_bucket
  firestore             = var.firestore
  function_config       = var.function_config
  pipeline              = var.pipeline
  pubsub                = var.pubsub
  scheduler_paused      = var.scheduler_paused
  secret_versions       = var.secret_versions
}
