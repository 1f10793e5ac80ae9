# Splits a comma- or semicolon-separated list of repository keys (the format other
# Artifactory integrations take) into a trimmed, de-duplicated list.
output "keys" {
  value = provider::imagewatch::repository_keys("docker-local, docker-prod; docker-dev,,docker-local")
  # ["docker-local", "docker-prod", "docker-dev"]
}
