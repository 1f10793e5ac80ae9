import {
  to = imagewatch_artifactory_integration.prod
  id = "prod"
}
