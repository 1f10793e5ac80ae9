# Builds the pullable reference of an image served by Artifactory's repository-path method:
# <registry host>/<repository key>/<image>:<tag>, or <...>@<digest> when the tag is a digest.
output "ref" {
  value = provider::imagewatch::image_ref("https://acme.jfrog.io/artifactory", "docker-local", "team-a/api", "v1.4.2")
  # "acme.jfrog.io/docker-local/team-a/api:v1.4.2"
}

output "pinned" {
  value = provider::imagewatch::image_ref("http://artifactory.internal:8082", "docker-prod", "team-a/api", "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
  # "artifactory.internal:8082/docker-prod/team-a/api@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
}
