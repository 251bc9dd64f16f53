# Object variables are passed to the module as they are; their fields,
# defaults and validations are in modules/session-pipeline/variables.tf.

variable "alerting" {
  description = "Alert notification channels and thresholds (module: alerting)."
  type        = any
  default     = {}
}

variable "build_service_account" {
  description = "Service account Cloud Build builds the functions with; null: the default."
  type        = string
  default     = null
}

variable "crm" {
  description = "CRM delivery settings (module: crm)."
  type        = any
  default     = {}
}

variable "event_publishers" {
  description = "Principals allowed to publish platform events (module: event_publishers)."
  type        = list(string)
  default     = []
}

variable "files_bucket" {
  description = "Files bucket lifecycle and retention (module: files_bucket)."
  type        = any
  default     = {}
}

variable "firestore" {
  description = "Firestore database location and recovery (module: firestore)."
  type        = any
  default     = {}
}

variable "function_config" {
  description = "Function sizing (module: function_config)."
  type        = any
  default     = {}
}

variable "pipeline" {
  description = "Pipeline settings (module: pipeline)."
  type        = any
  default     = {}
}

variable "project_id" {
  description = "Project of this environment (set in terraform.tfvars or -var)."
  type        = string
}

variable "pubsub" {
  description = "Delivery retries and dead-lettering (module: pubsub)."
  type        = any
  default     = {}
}

variable "region" {
  description = "Region of the pipeline."
  type        = string
}

variable "scheduler_paused" {
  description = "Pause the every-minute tick."
  type        = bool
  default     = false
}

variable "secret_versions" {
  description = "Pinned CRM secret versions by environment variable (module: secret_versions)."
  type        = map(string)
  default     = {}
}
