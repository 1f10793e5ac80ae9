package provider

import (
	"fmt"
	"regexp"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

const imagesAddr = "data.imagewatch_artifactory_images.test"

// pushed is one tag pushed to the double, with what the data source must report for it.
type pushed struct {
	key, image, tag, digest, mediaType string
	multi                              bool
}

func (p pushed) check(registryHost string) knownvalue.Check {
	rfc3339 := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	return knownvalue.ObjectExact(map[string]knownvalue.Check{
		"repository_key": knownvalue.StringExact(p.key),
		"image":          knownvalue.StringExact(p.image),
		"tag":            knownvalue.StringExact(p.tag),
		"digest":         knownvalue.StringExact(p.digest),
		"media_type":     knownvalue.StringExact(p.mediaType),
		"multi_platform": knownvalue.Bool(p.multi),
		"created":        knownvalue.StringRegexp(rfc3339),
		"modified":       knownvalue.StringRegexp(rfc3339),
		"reference":      knownvalue.StringExact(fmt.Sprintf("%s/%s/%s:%s", registryHost, p.key, p.image, p.tag)),
	})
}

// pushFixtureImages pushes real images (file trees tarred into layers) and returns them in the
// order the data source sorts them: repository, image, tag.
func pushFixtureImages(t *testing.T, f *fixture) []pushed {
	t.Helper()
	single := func(key, image, tag string, img v1.Image) pushed {
		mt, err := img.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		return pushed{key: key, image: image, tag: tag, digest: pushImage(t, f.srv, key, image, tag, img), mediaType: string(mt)}
	}
	appV1 := buildImage(t, "amd64", map[string]string{"app/VERSION": "1.0\n", "etc/os-release": "ID=debian\nVERSION_ID=12\n"})
	appV11 := buildImage(t, "amd64", map[string]string{"app/VERSION": "1.1\n", "etc/os-release": "ID=debian\nVERSION_ID=12\n"})
	tmp := buildImage(t, "amd64", map[string]string{"scratch/notes.txt": "temporary build\n"})
	cli := buildImage(t, "amd64", map[string]string{"usr/local/bin/cli": "#!/bin/sh\necho cli\n"})
	arm := buildImage(t, "arm64", map[string]string{"app/VERSION": "1.0\n", "etc/os-release": "ID=debian\nVERSION_ID=12\n"})

	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: appV1, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	idxType, err := idx.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, err := f.srv.PushIndex(t.Context(), "docker-prod", "team/app", "1.0", idx)
	if err != nil {
		t.Fatal(err)
	}
	return []pushed{
		single("docker-local", "team/app", "1.0", appV1),
		single("docker-local", "team/app", "1.1", appV11),
		single("docker-local", "team/tmp-build", "1.1", tmp),
		single("docker-local", "tools/cli", "latest", cli),
		{key: "docker-prod", image: "team/app", tag: "1.0", digest: idxDigest, mediaType: string(idxType), multi: true},
	}
}

func TestImagesDataSource_ListsPushedImages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	images := pushFixtureImages(t, f)
	host := f.srv.RegistryHost()
	checks := func(ps ...pushed) []knownvalue.Check {
		out := make([]knownvalue.Check, len(ps))
		for i, p := range ps {
			out[i] = p.check(host)
		}
		return out
	}
	// The provider block has no connection: the data source's own url and token are used.
	ds := func(body string) string {
		return providerBlock("") + fmt.Sprintf(`
data "imagewatch_artifactory_images" "test" {
  url          = %q
  access_token = %q
%s
}
`, f.srv.URL(), f.token, body)
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: ds(`  repository_keys = ["docker-prod", "docker-local", "docker-remote"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(imagesAddr, tfpath("images"), knownvalue.ListExact(checks(images...))),
				},
			},
			{
				Config: ds(`
  repository_keys = ["docker-local", "docker-prod"]
  image_filters = [{
    repository = "docker-local"
    images     = ["team/*"]
    exclude    = ["team/tmp-*"]
    tags       = "^1\\.1$"
  }]
`),
				// docker-local keeps team/app:1.1 only; docker-prod has no filter and keeps everything.
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(imagesAddr, tfpath("images"), knownvalue.ListExact(checks(images[1], images[4]))),
				},
			},
			{
				Config: ds(`
  repository_keys = ["docker-local"]
  image_filters   = [{ images = ["**/cli"] }]
`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(imagesAddr, tfpath("images"), knownvalue.ListExact(checks(images[3]))),
				},
			},
			{
				Config:      ds(`  repository_keys = ["docker-local", "docker-missing", "generic-local"]`),
				ExpectError: re(`(?s)repository access failed for: \[docker-missing, generic-local\].*docker-missing:.*not\s+exist.*generic-local:.*not\s+Docker`),
			},
			{
				Config:      ds(`  repository_keys = ["docker-secret"]`),
				ExpectError: re(`(?s)repository access failed for: \[docker-secret\].*READ`),
			},
		},
	})
}

// The data source also works from the provider's connection, and when AQL is refused (OSS, or
// AQL not permitted) through the Docker catalog fallback.
func TestImagesDataSource_ProviderConnectionAndCatalogFallback(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	images := pushFixtureImages(t, f)
	f.srv.DisableAQL(403)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: f.providerConfig("") + `
data "imagewatch_artifactory_images" "test" {
  repository_keys = ["docker-local"]
  image_filters   = [{ images = ["tools/*"] }]
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(imagesAddr, tfpath("images"), knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"repository_key": knownvalue.StringExact("docker-local"),
						"image":          knownvalue.StringExact("tools/cli"),
						"tag":            knownvalue.StringExact("latest"),
						"digest":         knownvalue.StringExact(images[3].digest),
						"reference":      knownvalue.StringExact(f.srv.RegistryHost() + "/docker-local/tools/cli:latest"),
					}),
				})),
				checkFunc(func() error {
					if f.srv.Requests()["docker.catalog"] == 0 {
						return fmt.Errorf("the Docker catalog was not used: %v", f.srv.Requests())
					}
					return nil
				}),
			},
		}},
	})
}

// The shared validators are wired into the data source too.
func TestImagesDataSource_Validation(t *testing.T) {
	t.Parallel()
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{
			Config:      providerBlock(`url = "https://acme.jfrog.io"`) + "data \"imagewatch_artifactory_images\" \"test\" {\n" + body + "\n}\n",
			PlanOnly:    true,
			ExpectError: re(want),
		}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			step(`repository_keys = []`, `set must contain at least 1 elements`),
			step(`repository_keys = ["a:b"]`, `(?s)Invalid repository key.*does not allow`),
			step(`url = "acme.jfrog.io"
repository_keys = ["docker-local"]`, `(?s)Invalid Artifactory URL.*has no scheme`),
			step(`repository_keys = ["docker-local"]
image_filters = [{ repository = "docker-prod" }]`, `Image filter names an unlisted repository`),
			step(`repository_keys = ["docker-local"]
image_filters = [{ images = ["a/[b"] }]`, `Invalid image glob`),
			step(`repository_keys = ["docker-local"]
image_filters = [{ exclude = ["{x"] }]`, `Invalid image glob`),
			step(`repository_keys = ["docker-local"]
image_filters = [{ tags = "[" }]`, `Invalid tag regular expression`),
		},
	})
}
