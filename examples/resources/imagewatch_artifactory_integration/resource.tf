# Declares an Artifactory integration. At plan time the provider checks that the credentials
# are valid and that every repository key exists, is a Docker repository and is readable.
resource "imagewatch_artifactory_integration" "prod" {
  name = "prod"
  url  = "https://acme.jfrog.io"

  # Write-only (Terraform >= 1.11): the token is sent to the provider but never stored in
  # state or plan. Bump access_token_wo_version whenever the token changes.
  access_token_wo         = var.jfrog_access_token
  access_token_wo_version = 1

  repository_keys = provider::imagewatch::repository_keys("docker-local, docker-prod; docker-remote")

  image_filters = [
    {
      repository = "docker-local"
      images     = ["team-a/**", "team-b/api"]
      exclude    = ["team-a/tmp-*"]
      tags       = "^v[0-9]+\\."
    },
  ]
}

# With a username the secret (password, API key or token) is sent as Basic authentication.
resource "imagewatch_artifactory_integration" "legacy" {
  name            = "legacy"
  url             = "https://artifactory.internal:8443/artifactory"
  username        = "ci-reader"
  access_token    = var.jfrog_password
  repository_keys = ["docker-virtual"]
}

output "prod_repositories" {
  value = imagewatch_artifactory_integration.prod.repositories
}

variable "jfrog_access_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "jfrog_password" {
  type      = string
  sensitive = true
}
