# Quickstart: declare one Artifactory integration (checked at plan time), list its images, and
# provision the engine that analyses them.
#
#   export TF_VAR_artifactory_url=https://acme.jfrog.io
#   export TF_VAR_access_token=...        # an access or identity token
#   export TF_VAR_repository_keys="docker-local, docker-prod"
#   terraform init && terraform apply
#   imagewatch-engine run --config "$(terraform output -raw engine_config)" --backfill-from=2024-01-01T00:00:00Z --once

terraform {
  required_version = ">= 1.11"

  required_providers {
    imagewatch = {
      source = "imagewatch/imagewatch"
    }
  }
}

variable "artifactory_url" {
  description = "JFrog Platform or Artifactory URL, e.g. https://acme.jfrog.io or http://artifactory.internal:8082/artifactory."
  type        = string
}

variable "username" {
  description = "Leave empty for an access token (sent as Bearer); set it to send the secret as Basic authentication."
  type        = string
  default     = null
}

variable "access_token" {
  description = "Access token, identity token, password or API key. Ephemeral: it never reaches plan or state."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "token_version" {
  description = "Bump when access_token changes, so the integration is updated with the new token."
  type        = number
  default     = 1
}

variable "engine_dir" {
  description = "Directory of the engine's configuration (config.json, integrations.d/), store and results."
  type        = string
  default     = "imagewatch-engine"
}

variable "repository_keys" {
  description = "Docker repository keys, separated by commas or semicolons."
  type        = string
}

variable "image_globs" {
  description = "Image names to watch (doublestar globs); empty watches every image."
  type        = list(string)
  default     = []
}

variable "tag_regex" {
  description = "RE2 regular expression a tag must match; empty matches every tag."
  type        = string
  default     = ""
}

# Provider blocks accept ephemeral values: the data source below reads with these credentials
# and nothing of the token reaches the state.
provider "imagewatch" {
  url          = var.artifactory_url
  username     = var.username
  access_token = var.access_token
}

locals {
  # Absolute, because the engine resolves relative paths in its config against the config's directory.
  engine_dir      = abspath(var.engine_dir)
  repository_keys = provider::imagewatch::repository_keys(var.repository_keys)

  # One filter per repository, applied only when something is set.
  image_filters = length(var.image_globs) == 0 && var.tag_regex == "" ? [] : [
    for key in local.repository_keys : {
      repository = key
      images     = var.image_globs
      exclude    = []
      tags       = var.tag_regex
    }
  ]
}

# The engine's main configuration; it holds no secret.
resource "imagewatch_engine_config" "this" {
  path             = "${local.engine_dir}/config.json"
  agent_id         = "quickstart"
  integrations_dir = "${local.engine_dir}/integrations.d"
  state            = "${local.engine_dir}/imagewatch.db"
  outputs          = [{ type = "directory", path = "${local.engine_dir}/results" }]
  sbom_formats     = ["cyclonedx-json", "spdx-json"]
  poll_interval    = "60s"
}

# Written to <integrations_dir>/quickstart.json (mode 0600, with the token) for the engine.
resource "imagewatch_artifactory_integration" "this" {
  name                    = "quickstart"
  engine_config_dir       = imagewatch_engine_config.this.integrations_dir
  url                     = var.artifactory_url
  username                = var.username
  access_token_wo         = var.access_token
  access_token_wo_version = var.token_version
  repository_keys         = local.repository_keys
  image_filters           = local.image_filters
}

# Lists the images with the provider's connection settings.
data "imagewatch_artifactory_images" "this" {
  repository_keys = imagewatch_artifactory_integration.this.repository_keys
  image_filters   = local.image_filters
}

output "engine_config" {
  description = "Run the engine with: imagewatch-engine run --config <this>"
  value       = imagewatch_engine_config.this.path
}

output "engine_integration_file" {
  value = imagewatch_artifactory_integration.this.engine_config_file
}

output "artifactory_version" {
  value = imagewatch_artifactory_integration.this.artifactory_version
}

output "registry_host" {
  value = imagewatch_artifactory_integration.this.registry_host
}

output "repositories" {
  value = imagewatch_artifactory_integration.this.repositories
}

output "images" {
  description = "Every tag found: repository/image:tag => digest."
  value = {
    for image in data.imagewatch_artifactory_images.this.images :
    "${image.repository_key}/${image.image}:${image.tag}" => "${image.digest} (${image.multi_platform ? "multi-platform" : "single platform"})"
  }
}
