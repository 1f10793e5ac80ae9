# Quickstart: declare one Artifactory integration (checked at plan time) and list its images.
#
#   export TF_VAR_artifactory_url=https://acme.jfrog.io
#   export TF_VAR_access_token=...        # an access or identity token
#   export TF_VAR_repository_keys="docker-local, docker-prod"
#   terraform init && terraform apply

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

resource "imagewatch_artifactory_integration" "this" {
  name                    = "quickstart"
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
