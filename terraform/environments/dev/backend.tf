# State lives in a GCS bucket given at init (it is per project):
#   terraform init -backend-config="bucket=<state bucket>"
terraform {
  backend "gcs" {
    prefix = "session-pipeline/dev"
  }
}
