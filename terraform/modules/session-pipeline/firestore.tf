# Firestore (Native mode): the database, the composite indexes of every
# query the code runs, and TTL policies for state that ages out.

resource "google_firestore_database" "this" {
  project     = var.project_id
  name        = var.firestore.database
  location_id = coalesce(var.firestore.location, var.region)
  type        = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = (
    var.firestore.point_in_time_recovery
    ? "POINT_IN_TIME_RECOVERY_ENABLED"
    : "POINT_IN_TIME_RECOVERY_DISABLED"
  )
  delete_protection_state = (
    var.deletion_protection
    ? "DELETE_PROTECTION_ENABLED"
    : "DELETE_PROTECTION_DISABLED"
  )
  # ABANDON leaves the database (and its data) behind on destroy.
  deletion_policy = var.deletion_protection ? "ABANDON" : "DELETE"
  depends_on      = [google_project_service.this]
}

# One resource per entry of COMPOSITE_INDEXES in
# shared/adapters/firestore_schedule.py (tests/terraform checks the match).

# The finalizer's due query: pending == true AND due_at <= now
# ORDER BY due_at.
resource "google_firestore_index" "sessions_pending_due_at" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = local.collections.sessions
  query_scope = "COLLECTION"
  fields {
    field_path = "pending"
    order      = "ASCENDING"
  }
  fields {
    field_path = "due_at"
    order      = "ASCENDING"
  }
}

# TTL: documents are deleted some time (up to about a day) after their
# expire_at. The code sets expire_at on every document of these collection
# groups; a parent's deletion does not delete its subcollections, hence
# `events` and `chunks` have their own policies. expire_at is exempt from
# single-field indexing (monotonic values would make an index hotspot).
resource "google_firestore_field" "expire_at" {
  for_each = toset([
    local.collections.chunks,
    local.collections.crm_dead_letters,
    local.collections.crm_deliveries,
    local.collections.crm_records,
    local.collections.crm_parked,
    local.collections.crm_routes,
    local.collections.events,
    local.collections.quarantine,
    local.collections.sessions,
    local.collections.ticks,
  ])
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value
  field      = "expire_at"
  ttl_config {}
  index_config {}
}
