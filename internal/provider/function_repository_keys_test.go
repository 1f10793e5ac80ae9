package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

func TestRepositoryKeysFunction(t *testing.T) {
	t.Parallel()
	strs := func(ss ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(ss))
		for i, s := range ss {
			checks[i] = knownvalue.StringExact(s)
		}
		return knownvalue.ListExact(checks)
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: header + `
output "backline"  { value = provider::imagewatch::repository_keys("docker-local, docker-prod; docker-dev") }
output "messy"     { value = provider::imagewatch::repository_keys(" ;docker-prod,, docker-local ;docker-prod;") }
output "single"    { value = provider::imagewatch::repository_keys("docker-local") }
output "empty"     { value = provider::imagewatch::repository_keys(" , ; ") }
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("backline", strs("docker-local", "docker-prod", "docker-dev")),
					statecheck.ExpectKnownOutputValue("messy", strs("docker-prod", "docker-local")),
					statecheck.ExpectKnownOutputValue("single", strs("docker-local")),
					statecheck.ExpectKnownOutputValue("empty", strs()),
				},
			},
			{
				Config:      header + `output "bad" { value = provider::imagewatch::repository_keys("docker-local, team/app") }`,
				ExpectError: re(`(?s)Invalid value for "keys" parameter.*item 2:\s+repository\s+key\s+"team/app"\s+contains\s+'/'`),
			},
			{
				Config:      header + `output "bad" { value = provider::imagewatch::repository_keys("docker local") }`,
				ExpectError: re(`(?s)Invalid value for "keys" parameter.*contains a space`),
			},
		},
	})
}
