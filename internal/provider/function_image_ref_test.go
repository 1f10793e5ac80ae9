package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

func TestImageRefFunction(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("ab", 32)
	call := func(args string) string {
		return header + `output "ref" { value = provider::imagewatch::image_ref(` + args + `) }`
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: header + `
output "saas"   { value = provider::imagewatch::image_ref("https://acme.jfrog.io", "docker-local", "team/app", "1.2.0") }
output "port"   { value = provider::imagewatch::image_ref("http://localhost:8082/artifactory/", "docker-prod", "app", "latest") }
output "https"  { value = provider::imagewatch::image_ref("https://Acme.JFrog.io:443/artifactory", "docker-local", "/team/app/", "v1") }
output "digest" { value = provider::imagewatch::image_ref("https://acme.jfrog.io", "docker-local", "app", "` + digest + `") }
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("saas", knownvalue.StringExact("acme.jfrog.io/docker-local/team/app:1.2.0")),
					statecheck.ExpectKnownOutputValue("port", knownvalue.StringExact("localhost:8082/docker-prod/app:latest")),
					statecheck.ExpectKnownOutputValue("https", knownvalue.StringExact("acme.jfrog.io/docker-local/team/app:v1")),
					statecheck.ExpectKnownOutputValue("digest", knownvalue.StringExact("acme.jfrog.io/docker-local/app@"+digest)),
				},
			},
			{
				Config:      call(`"acme.jfrog.io", "docker-local", "app", "1"`),
				ExpectError: re(`(?s)Invalid value for "url" parameter.*has no scheme`),
			},
			{
				Config:      call(`"https://acme.jfrog.io", "docker/local", "app", "1"`),
				ExpectError: re(`(?s)Invalid value for "repository_key" parameter.*contains '/'`),
			},
			{
				Config:      call(`"https://acme.jfrog.io", "Docker-Local", "app", "1"`),
				ExpectError: re(`(?s)Invalid value for "repository_key" parameter.*upper-case`),
			},
			{
				Config:      call(`"https://acme.jfrog.io", "docker-local", "Team/App", "1"`),
				ExpectError: re(`(?s)Invalid value for "image" parameter.*not a valid image\s+name`),
			},
			{
				Config:      call(`"https://acme.jfrog.io", "docker-local", "", "1"`),
				ExpectError: re(`(?s)Invalid value for "image" parameter.*empty image name`),
			},
			{
				Config:      call(`"https://acme.jfrog.io", "docker-local", "app", "-bad"`),
				ExpectError: re(`(?s)Invalid value for "tag" parameter.*not a valid tag`),
			},
			{
				Config:      call(`"https://acme.jfrog.io", "docker-local", "app", "sha256:zz"`),
				ExpectError: re(`(?s)Invalid value for "tag" parameter.*neither a tag nor a valid\s+digest`),
			},
		},
	})
}
