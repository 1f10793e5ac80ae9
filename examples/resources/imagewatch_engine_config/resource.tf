# The engine's main configuration file. It holds no secret: tokens are referenced by environment
# variable or file, so `content` can go straight into a Kubernetes Secret or ConfigMap.
resource "imagewatch_engine_config" "this" {
  path             = "/etc/imagewatch/config.json"
  agent_id         = "acme-prod-agent"
  integrations_dir = "/etc/imagewatch/integrations.d"
  state            = "sqlite:///var/lib/imagewatch/imagewatch.db"

  outputs = [
    { type = "directory", path = "/var/lib/imagewatch/results" },
    { type = "http", url = "https://inventory.internal/v1/images", token_env = "INVENTORY_TOKEN" },
    { type = "dependency_track", url = "https://dtrack.internal", api_key_file = "/run/secrets/dtrack-api-key" },
  ]

  sbom_formats  = ["cyclonedx-json", "spdx-json"]
  poll_interval = "60s"
  workers       = 4
  listen        = "127.0.0.1:9090"
  log_format    = "json"
  api_token_env = "IMAGEWATCH_API_TOKEN" # bearer token of the inventory API
}

# Each integration writes <integrations_dir>/<name>.json (mode 0600, token inline) that the running
# engine picks up without a restart; destroying it stops the engine polling that integration.
resource "imagewatch_artifactory_integration" "prod" {
  name              = "prod"
  url               = "https://acme.jfrog.io"
  engine_config_dir = imagewatch_engine_config.this.integrations_dir

  access_token_wo         = var.jfrog_access_token
  access_token_wo_version = 1

  # Secret of the Artifactory webhook that triggers an immediate poll on push.
  webhook_secret_wo         = var.webhook_secret
  webhook_secret_wo_version = 1

  repository_keys = ["docker-local", "docker-prod"]
}

output "engine_config_sha256" {
  value = imagewatch_engine_config.this.content_sha256
}

variable "jfrog_access_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "webhook_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}
