# What the running engine discovered and analysed, from its inventory API (the engine's `listen`
# address). The token is the engine's api_token; here it comes from IMAGEWATCH_ENGINE_TOKEN.
provider "imagewatch" {
  engine_url = "http://127.0.0.1:9090"
}

data "imagewatch_engine_images" "analysed" {
  repository = "docker-prod"
  status     = "done"
}

data "imagewatch_engine_images" "failed" {
  status = "failed"
}

output "analysed" {
  description = "repository/image:tag => digest, package count and CycloneDX SBOM location."
  value = {
    for image in data.imagewatch_engine_images.analysed.images :
    "${image.repository}/${image.image}:${image.tag}" => {
      digest        = image.digest
      package_count = image.package_count
      sbom          = lookup(image.sboms, "cyclonedx-json", null)
      platforms     = [for p in image.platforms : p.platform]
    }
  }
}

output "failures" {
  value = { for image in data.imagewatch_engine_images.failed.images : "${image.repository}/${image.image}:${image.tag}" => image.failure_reason }
}
