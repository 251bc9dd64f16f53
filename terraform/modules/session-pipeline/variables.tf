variable "alerting" {
  description = "Alert policies: where they notify and when they fire."
  type = object({
    # Monitoring notification channel ids (projects/P/notificationChannels/N).
    notification_channels = optional(list(string), [])
    # E-mail addresses that get a notification channel made here.
    # Outside dev, channels or e-mails must name at least one recipient.
    emails = optional(list(string), [])
    # 95th percentile finalization lag, and the age of the oldest
    # unacknowledged tick, above which the lag policy fires.
    finalization_lag_seconds = optional(number, 600)
    # Quarantined events per 5 minutes above which the policy fires.
    quarantined_per_5min = optional(number, 0)
    # CRM jobs refused for good (dead-lettered) per 5 minutes above which the policy fires.
    crm_refused_per_5min = optional(number, 0)
    # Age of the oldest parked CRM job (waiting for its session) above which the policy fires.
    crm_parked_age_seconds = optional(number, 3600)
    # Failed requests (HTTP 5xx: errors, timeouts, crashes) per function per 5 minutes.
    function_errors_per_5min = optional(number, 5)
    # Sessions due but left for the next tick (a full batch) for this long: backlog.
    finalize_backlog_seconds = optional(number, 300)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.alerting.finalization_lag_seconds >= 60
    error_message = "finalization_lag_seconds must be at least 60."
  }
  validation {
    condition = alltrue([
      for n in [
        var.alerting.quarantined_per_5min, var.alerting.crm_refused_per_5min,
        var.alerting.function_errors_per_5min,
      ] : n >= 0
    ])
    error_message = "The per-5-minute thresholds must not be negative."
  }
  validation {
    condition = (
      var.alerting.crm_parked_age_seconds >= 60 && var.alerting.finalize_backlog_seconds >= 60
    )
    error_message = "crm_parked_age_seconds and finalize_backlog_seconds must be at least 60."
  }
  validation {
    condition = alltrue([
      for c in var.alerting.notification_channels :
      can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))
    ])
    error_message = "Notification channels are projects/P/notificationChannels/N."
  }
  validation {
    condition = alltrue([
      for e in var.alerting.emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))
    ])
    error_message = "alerting.emails must be e-mail addresses."
  }
  validation {
    # Alerts nobody receives are not alerts: only dev may go without.
    condition = (
      var.environment == "dev"
      || length(var.alerting.notification_channels) + length(var.alerting.emails) > 0
    )
    error_message = "Outside dev, set alerting.notification_channels or alerting.emails (who is paged)."
  }
}

variable "build_service_account" {
  description = <<-EOT
    E-mail of the service account Cloud Build builds the functions with;
    null uses the project's default build service account. Needs
    roles/cloudbuild.builds.builder (see docs/deploy.md).
  EOT
  type        = string
  default     = null
  validation {
    condition = (
      var.build_service_account == null
      || can(regex("^[^@]+@[^@]+\\.iam\\.gserviceaccount\\.com$", coalesce(var.build_service_account, "x")))
    )
    error_message = "build_service_account must be a service account e-mail."
  }
}

variable "crm" {
  description = "CRM settings of the functions; credentials are Secret Manager secrets."
  type = object({
    # CRM calls a minute the whole deployment may make (the CRM's limit, with some
    # room); each crm instance gets its share. 0: no budget.
    calls_per_minute = optional(number, 0)
    # Credentials wired from Secret Manager, by environment variable, e.g.
    # ["CRM__ZENDESK__API_TOKEN"]; see local.crm_secret_names (secrets.tf).
    credentials = optional(list(string), [])
    # The CRM rules, shared.crm.settings.CrmSettings without credentials,
    # e.g. { kind = "zendesk", base_url = "https://acme.zendesk.com",
    # zendesk = { email = "api@acme.com" } }; {} creates no records.
    settings = optional(any, {})
    # HTTP timeout towards a CRM (CRM_TIMEOUT_SECONDS).
    timeout_seconds = optional(number, 10)
    # Generic webhook URL (WEBHOOK_URL); empty disables the webhook.
    webhook_url = optional(string, "")
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.crm.calls_per_minute >= 0
    error_message = "crm.calls_per_minute must not be negative."
  }
  validation {
    # Credentials in the JSON would sit in the state and in plain env vars.
    condition = !can(regex(
      "(?i)\"(api_token|api_key|client_secret|password)\"\\s*:",
      jsonencode(var.crm.settings)
    ))
    error_message = "Put CRM credentials in Secret Manager (crm.credentials), not in crm.settings."
  }
  validation {
    condition     = var.crm.timeout_seconds > 0 && var.crm.timeout_seconds <= 60
    error_message = "crm.timeout_seconds must be in (0, 60]."
  }
  validation {
    condition = (
      var.crm.webhook_url == "" || startswith(var.crm.webhook_url, "https://")
    )
    error_message = "crm.webhook_url must be empty or an https:// URL."
  }
}

variable "deletion_protection" {
  description = <<-EOT
    Protect the stateful resources: the Firestore database (delete
    protection, abandoned on destroy), the files bucket (not emptied on
    destroy) and the secrets. On in prod.
  EOT
  type        = bool
  default     = true
  nullable    = false
}

variable "enable_apis" {
  description = "Enable the APIs the pipeline needs (off if the project is managed elsewhere)."
  type        = bool
  default     = true
  nullable    = false
}

variable "environment" {
  description = "dev, staging or prod: labels, and what the validations require (alert recipients outside dev)."
  type        = string
  nullable    = false
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "event_publishers" {
  description = <<-EOT
    Principals allowed to publish platform events to the events topic, e.g.
    serviceAccount:platform@other-project.iam.gserviceaccount.com.
  EOT
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition = alltrue([
      for m in var.event_publishers :
      can(regex("^(serviceAccount|group|user|principal|principalSet):.+$", m))
    ])
    error_message = "Publishers are IAM principals such as serviceAccount:EMAIL; never allUsers."
  }
}

variable "files_bucket" {
  description = "The bucket of metadata and data-stream files: lifecycle and retention."
  type = object({
    # Default: <project_id>-[<prefix>-]session-files.
    name = optional(string)
    # Default: var.region.
    location      = optional(string)
    storage_class = optional(string, "STANDARD")
    # Delete overwritten versions this many days after they were replaced.
    noncurrent_delete_after_days = optional(number, 30)
    # Delete files this many days after they were written; null keeps them.
    delete_after_days = optional(number)
    # Soft delete: deleted objects stay restorable this long (0 or 7-90).
    soft_delete_retention_days = optional(number, 7)
  })
  default  = {}
  nullable = false
  validation {
    condition = contains(
      ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"],
      var.files_bucket.storage_class
    )
    error_message = "storage_class must be STANDARD, NEARLINE, COLDLINE or ARCHIVE."
  }
  validation {
    condition     = var.files_bucket.noncurrent_delete_after_days >= 1
    error_message = "noncurrent_delete_after_days must be at least 1."
  }
  validation {
    condition = (
      var.files_bucket.delete_after_days == null
      || coalesce(var.files_bucket.delete_after_days, 1) >= 1
    )
    error_message = "delete_after_days must be null or at least 1."
  }
  validation {
    condition = (
      var.files_bucket.soft_delete_retention_days == 0
      || (var.files_bucket.soft_delete_retention_days >= 7
      && var.files_bucket.soft_delete_retention_days <= 90)
    )
    error_message = "soft_delete_retention_days must be 0 or between 7 and 90."
  }
}

variable "firestore" {
  description = "The Firestore database."
  type = object({
    # "(default)" is what the client libraries use without configuration.
    database = optional(string, "(default)")
    # A region or multi-region (eur3, nam5); default: var.region.
    # Cannot change after creation.
    location               = optional(string)
    point_in_time_recovery = optional(bool, true)
  })
  default  = {}
  nullable = false
  validation {
    condition = can(regex(
      "^(\\(default\\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$", var.firestore.database
    ))
    error_message = "database must be (default) or a valid database id."
  }
}

variable "function_config" {
  description = <<-EOT
    Sizing of each function; the defaults suit a few hundred sessions a minute.
    concurrency = requests one instance serves at once (above 1 needs cpu >= 1;
    the functions framework serves 4 threads per CPU, so keep it <= 4 x cpu).
  EOT
  type = object({
    crm = optional(object({
      cpu             = optional(string, "0.5")
      memory          = optional(string, "256M")
      concurrency     = optional(number, 1)
      timeout_seconds = optional(number, 120)
      # Bounds the request rate towards the CRM.
      max_instances = optional(number, 5)
      min_instances = optional(number, 0)
    }), {})
    # The tick: reads the due sessions a page at a time and publishes jobs.
    finalize = optional(object({
      cpu             = optional(string, "1")
      memory          = optional(string, "256M")
      timeout_seconds = optional(number, 300)
      max_instances   = optional(number, 3)
      min_instances   = optional(number, 0)
      concurrency     = optional(number, 1)
    }), {})
    # The workers: capacity = max_instances x concurrency jobs at once.
    finalize_worker = optional(object({
      cpu             = optional(string, "1")
      memory          = optional(string, "512M")
      timeout_seconds = optional(number, 300)
      max_instances   = optional(number, 100)
      min_instances   = optional(number, 0)
      concurrency     = optional(number, 1)
    }), {})
    ingest = optional(object({
      cpu             = optional(string, "1")
      memory          = optional(string, "512M")
      concurrency     = optional(number, 4)
      timeout_seconds = optional(number, 60)
      max_instances   = optional(number, 50)
      min_instances   = optional(number, 0)
    }), {})
  })
  default  = {}
  nullable = false
  validation {
    # Event-driven work must finish well inside Pub/Sub's 600 s push limit.
    condition = alltrue([
      for f in values(var.function_config) :
      f.timeout_seconds >= 10 && f.timeout_seconds <= 540
    ])
    error_message = "timeout_seconds must be between 10 and 540."
  }
  validation {
    condition = alltrue([
      for f in values(var.function_config) :
      f.min_instances >= 0 && f.max_instances >= max(1, f.min_instances)
    ])
    error_message = "Need 0 <= min_instances <= max_instances and max_instances >= 1."
  }
  validation {
    condition = alltrue([
      for f in values(var.function_config) :
      can(regex("^[0-9]+(M|Mi|G|Gi)$", f.memory))
    ])
    error_message = "memory is a size such as 256M or 1Gi."
  }
  validation {
    condition = alltrue([
      for f in values(var.function_config) :
      can(tonumber(f.cpu)) && try(tonumber(f.cpu) > 0 && tonumber(f.cpu) <= 8, false)
    ])
    error_message = "cpu is a number of vCPUs such as 0.5, 1 or 2 (at most 8)."
  }
  validation {
    condition = alltrue([
      for f in values(var.function_config) :
      f.concurrency >= 1 && f.concurrency <= 1000
      && (f.concurrency == 1 || try(tonumber(f.cpu) >= 1, false))
    ])
    error_message = "concurrency is 1-1000, and above 1 needs cpu >= 1."
  }
}

variable "function_source_dir" {
  description = "Directory of the staged archives <name>.zip (`sessionctl stage --out DIR`)."
  type        = string
  nullable    = false
  validation {
    condition = alltrue([
      for name in ["crm", "finalize", "finalize_worker", "ingest"] :
      fileexists("${var.function_source_dir}/${name}.zip")
    ])
    error_message = "Missing archives: run `sessionctl stage --out build/functions` first."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes labels."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "pipeline" {
  description = "Pipeline settings given to the functions (shared.config.Settings)."
  type = object({
    claim_lease_seconds    = optional(number, 120)
    finalize_batch_size    = optional(number, 1000)
    finalize_delay_seconds = optional(number, 900)
    # Sessions per finalize job (one worker request).
    finalize_job_size = optional(number, 10)
    # How long a tick's round of jobs holds off the next tick's dispatch.
    finalize_round_lease_seconds = optional(number, 600)
    # Most sessions one tick hands out; the rest wait for the next round.
    finalize_tick_limit      = optional(number, 50000)
    include_end_user_contact = optional(bool, false)
    # Chat transcripts (message text, personal data) in the files' "transcript" key.
    include_transcript = optional(bool, false)
    # Folder of the files in the bucket, e.g. "sessions/"; empty: the root.
    object_prefix = optional(string, "")
    # Days Firestore keeps a session's state after it was due (TTL).
    state_retention_days  = optional(number, 30)
    stuck_timeout_seconds = optional(number, 86400)
    # Time zone of the timestamps in the files (IANA name, UTC, or a fixed offset "+03:00").
    timezone = optional(string, "UTC")
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.pipeline.claim_lease_seconds >= 10
    error_message = "claim_lease_seconds must be at least 10."
  }
  validation {
    condition = (
      var.pipeline.finalize_batch_size >= 1
      && var.pipeline.finalize_batch_size <= 1000
    )
    error_message = "finalize_batch_size must be between 1 and 1000."
  }
  validation {
    condition = (
      var.pipeline.finalize_job_size >= 1 && var.pipeline.finalize_job_size <= 500
      && var.pipeline.finalize_round_lease_seconds >= 10
      && var.pipeline.finalize_tick_limit >= 1
    )
    error_message = "finalize_job_size is 1-500, finalize_round_lease_seconds >= 10, finalize_tick_limit >= 1."
  }
  validation {
    condition     = var.pipeline.finalize_delay_seconds >= 0
    error_message = "finalize_delay_seconds must not be negative."
  }
  validation {
    condition     = var.pipeline.state_retention_days >= 1
    error_message = "state_retention_days must be at least 1."
  }
  validation {
    condition     = var.pipeline.stuck_timeout_seconds >= 60
    error_message = "stuck_timeout_seconds must be at least 60."
  }
  validation {
    condition = (
      var.pipeline.object_prefix == ""
      || can(regex("^[^/].*/$", var.pipeline.object_prefix))
    )
    error_message = "object_prefix must be empty or a folder ending in '/'."
  }
  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.pipeline.timezone))
    error_message = "timezone must be an IANA zone name such as UTC or Europe/Paris."
  }
}

variable "prefix" {
  description = "Prefix of every resource name (e.g. an environment sharing a project); null for none."
  type        = string
  default     = null
  validation {
    condition = (
      var.prefix == null
      || can(regex("^[a-z][a-z0-9]{0,7}$", coalesce(var.prefix, "x")))
    )
    error_message = "prefix must be null or 1-8 lower-case letters and digits."
  }
}

variable "project_id" {
  description = "Project to deploy into."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id."
  }
}

variable "pubsub" {
  description = "Delivery to the functions: retries, dead-lettering, retention."
  type = object({
    # Deliveries before a message goes to the dead-letter topic (5-100). High
    # enough that a burst (instances scaling up, 429s) does not park valid
    # events: 20 attempts with 10-600 s backoff is over 2 hours of retrying.
    max_delivery_attempts = optional(number, 20)
    # Redelivery backoff bounds (0-600s each); unset: retry_policy.json, which the
    # local stack's subscriptions use too.
    minimum_backoff = optional(string)
    maximum_backoff = optional(string)
    # How long an undelivered message is kept (10 min - 7 days).
    message_retention = optional(string, "604800s")
    # How long topics keep messages for seeking back (10 min - 31 days).
    topic_retention = optional(string, "86400s")
    # Ticks: each stands for "finalize what is due now" and the next comes a
    # minute later, so an old tick is worth nothing. Kept 10 minutes (the
    # minimum), retried within a minute, dead-lettered after 5 (the minimum):
    # after an outage a handful of ticks run, not a day's worth.
    tick_retention         = optional(string, "600s")
    tick_maximum_backoff   = optional(string, "60s")
    tick_delivery_attempts = optional(number, 5)
  })
  default  = {}
  nullable = false
  validation {
    condition = (
      var.pubsub.max_delivery_attempts >= 5
      && var.pubsub.max_delivery_attempts <= 100
    )
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
  validation {
    condition = alltrue([
      for d in [var.pubsub.minimum_backoff, var.pubsub.maximum_backoff, var.pubsub.tick_maximum_backoff] :
      d == null ? true : try(tonumber(trimsuffix(d, "s")) <= 600 && endswith(d, "s"), false)
    ])
    error_message = "Backoffs are durations such as 10s, at most 600s."
  }
  validation {
    condition = alltrue([
      for d in [var.pubsub.message_retention, var.pubsub.topic_retention, var.pubsub.tick_retention] :
      try(tonumber(trimsuffix(d, "s")) >= 600 && endswith(d, "s"), false)
    ])
    error_message = "Retentions are durations such as 86400s, at least 600s."
  }
  validation {
    condition = (
      var.pubsub.tick_delivery_attempts >= 5 && var.pubsub.tick_delivery_attempts <= 100
      && try(tonumber(trimsuffix(var.pubsub.tick_retention, "s")) <= 3600, false)
      && try(tonumber(trimsuffix(var.pubsub.tick_maximum_backoff, "s")) <= 60, false)
    )
    error_message = "Ticks: 5-100 attempts, retention at most 3600s, maximum backoff at most 60s (the tick period)."
  }
}

variable "region" {
  description = "Region of the functions, topics' consumers, scheduler and buckets."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region name such as europe-west1."
  }
}

variable "scheduler_paused" {
  description = "Pause the every-minute tick (no session is finalized while paused)."
  type        = bool
  default     = false
  nullable    = false
}

variable "secret_versions" {
  description = <<-EOT
    Secret version per CRM credential, keyed by environment variable
    (WEBHOOK_SECRET); "latest" when absent. Pin numbers so a rotation is a
    deliberate redeploy.
  EOT
  type        = map(string)
  default     = {}
  nullable    = false
  validation {
    condition = alltrue([
      for v in values(var.secret_versions) : can(regex("^(latest|[1-9][0-9]*)$", v))
    ])
    error_message = "Secret versions are \"latest\" or a version number."
  }
}

variable "topic_names" {
  description = "Topic names (before the prefix)."
  type = object({
    crm_jobs      = optional(string, "crm-jobs")
    events        = optional(string, "session-events")
    finalize_jobs = optional(string, "finalize-jobs")
    finalized     = optional(string, "session-finalized")
    ticks         = optional(string, "finalize-ticks")
  })
  default  = {}
  nullable = false
  validation {
    condition = alltrue([
      for n in values(var.topic_names) : can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,200}$", n))
    ])
    error_message = "Topic names are 3-200 characters, starting with a letter."
  }
}
