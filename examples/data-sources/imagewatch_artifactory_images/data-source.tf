# Lists every tag in the given repositories that passes the filters, through the same
# discovery code the engine uses. The connection comes from the provider block here.
data "imagewatch_artifactory_images" "releases" {
  repository_keys = ["docker-local", "docker-prod"]

  image_filters = [
    {
      repository = "docker-local"
      images     = ["team-a/**"]
      tags       = "^v[0-9]"
    },
  ]
}

output "release_references" {
  value = [for image in data.imagewatch_artifactory_images.releases.images : image.reference]
}
