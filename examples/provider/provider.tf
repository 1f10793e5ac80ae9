terraform {
  required_providers {
    imagewatch = {
      source = "imagewatch/imagewatch"
    }
  }
}

# Connection defaults for every integration and data source. Each may also come from the
# environment: JFROG_URL, JFROG_ACCESS_TOKEN, JFROG_USERNAME.
provider "imagewatch" {
  url          = "https://acme.jfrog.io"
  access_token = var.jfrog_access_token # sent as "Authorization: Bearer" (no username)

  # Optional transport settings.
  # ca_cert_file    = "/etc/ssl/certs/corp-ca.pem"
  request_timeout = "30s"

  # The engine: where integrations write their engine file (IMAGEWATCH_ENGINE_CONFIG_DIR), and the
  # inventory API read by imagewatch_engine_images (IMAGEWATCH_ENGINE_URL, IMAGEWATCH_ENGINE_TOKEN).
  engine_config_dir = "/etc/imagewatch/integrations.d"
  engine_url        = "http://127.0.0.1:9090"
  # engine_token    = var.engine_token
}

variable "jfrog_access_token" {
  type      = string
  sensitive = true
}
