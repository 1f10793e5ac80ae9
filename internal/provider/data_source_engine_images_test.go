package provider

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/server"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

const engineImagesAddr = "data.imagewatch_engine_images.test"

// engineDigest is a well-formed digest numbered n.
func engineDigest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// sbomPath is where the test's SBOM locator says a digest's CycloneDX SBOM is.
func sbomPath(digest string) string {
	return "/var/lib/imagewatch/results/sha256/" + strings.TrimPrefix(digest, "sha256:") + "/sbom.cdx.json"
}

// newInventoryEngine serves the engine's real inventory API (server package) over a real store
// holding: a done single-platform image, a failed one, a done two-platform index, a skipped helm
// chart, and bulk discovered tags (so the listing needs more than one page).
func newInventoryEngine(t *testing.T, token string, bulk int) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "imagewatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tag := func(integration, repo, image, tagName, digest, mediaType string) store.Tag {
		return store.Tag{Integration: integration, Repository: repo, Image: image, Tag: tagName, Digest: digest, MediaType: mediaType,
			Reference: "registry.example/" + repo + "/" + image + ":" + tagName, Modified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	}
	single, failed, index, amd, arm, chart := engineDigest(1), engineDigest(2), engineDigest(3), engineDigest(4), engineDigest(5), engineDigest(6)
	tags := []store.Tag{
		tag("prod", "docker-local", "team/api", "v1", single, artifactory.MediaTypeOCIManifest),
		tag("prod", "docker-local", "team/api", "v2", failed, artifactory.MediaTypeOCIManifest),
		tag("prod", "docker-prod", "base/multi", "1.0", index, artifactory.MediaTypeOCIIndex),
		tag("prod", "docker-prod", "charts/app", "0.1.0", chart, artifactory.MediaTypeOCIManifest),
	}
	for i := range bulk {
		tags = append(tags, tag("bulk", "docker-bulk", fmt.Sprintf("svc%04d", i), "latest", engineDigest(1000+i), artifactory.MediaTypeOCIManifest))
	}
	_, err = st.UpsertTags(ctx, tags)
	must(err)
	for _, a := range []store.Analysis{
		{Digest: single, MediaType: artifactory.MediaTypeOCIManifest, Platform: "linux/amd64"},
		{Digest: failed, MediaType: artifactory.MediaTypeOCIManifest},
		{Digest: index, MediaType: artifactory.MediaTypeOCIIndex},
		{Digest: amd, MediaType: artifactory.MediaTypeOCIManifest, Parent: index, Platform: "linux/amd64"},
		{Digest: arm, MediaType: artifactory.MediaTypeOCIManifest, Parent: index, Platform: "linux/arm64/v8"},
		{Digest: chart, MediaType: artifactory.MediaTypeOCIManifest},
	} {
		_, err := st.EnsureAnalysis(ctx, a)
		must(err)
	}
	must(st.Complete(ctx, single, store.StatusDone, 42, ""))
	must(st.Fail(ctx, failed, "pull failed: manifest unknown", time.Time{}, true))
	must(st.Complete(ctx, amd, store.StatusDone, 30, ""))
	must(st.Complete(ctx, arm, store.StatusDone, 31, ""))
	must(st.Complete(ctx, index, store.StatusDone, 0, ""))
	must(st.Complete(ctx, chart, store.StatusSkipped, 0, "not a container image: helm chart"))

	srv := server.New(
		server.WithInventory(st),
		server.WithInventoryToken(token),
		server.WithSBOMLocator(func(digest string) map[string]string {
			return map[string]string{"cyclonedx-json": sbomPath(digest)}
		}),
	)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs
}

func engineImagesConfig(providerBody, dataBody string) string {
	return providerBlock(providerBody) + "data \"imagewatch_engine_images\" \"test\" {\n" + dataBody + "\n}\n"
}

func TestEngineImagesDataSource_ReadsTheInventory(t *testing.T) {
	t.Parallel()
	const token = "inventory-token-c41f"
	const bulk, pageSize = 5, 2 // 9 rows: five pages
	engine := newInventoryEngine(t, token, bulk)
	factories := map[string]func() (tfprotov6.ProviderServer, error){
		"imagewatch": providerserver.NewProtocol6WithError(&imagewatchProvider{version: "test", inventoryPageSize: pageSize}),
	}
	prov := fmt.Sprintf("engine_url = %q\nengine_token = %q", engine.URL, token)
	emptyMap := knownvalue.MapExact(map[string]knownvalue.Check{})
	sboms := func(d string) knownvalue.Check {
		return knownvalue.MapExact(map[string]knownvalue.Check{"cyclonedx-json": knownvalue.StringExact(sbomPath(d))})
	}
	analyzedAt := knownvalue.StringRegexp(re(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`))

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				// Filter by repository: the done and the failed tag of docker-local, every field.
				Config: engineImagesConfig(prov, `repository = "docker-local"`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"integration": knownvalue.StringExact("prod"), "repository": knownvalue.StringExact("docker-local"),
							"image": knownvalue.StringExact("team/api"), "tag": knownvalue.StringExact("v1"),
							"digest": knownvalue.StringExact(engineDigest(1)), "media_type": knownvalue.StringExact(artifactory.MediaTypeOCIManifest),
							"reference": knownvalue.StringExact("registry.example/docker-local/team/api:v1"),
							"status":    knownvalue.StringExact("done"), "failure_reason": knownvalue.StringExact(""),
							"skip_reason": knownvalue.StringExact(""), "package_count": knownvalue.Int64Exact(42),
							"analyzed_at": analyzedAt,
							"platforms": knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
								"platform": knownvalue.StringExact("linux/amd64"), "digest": knownvalue.StringExact(engineDigest(1)),
								"status": knownvalue.StringExact("done"), "package_count": knownvalue.Int64Exact(42),
								"sboms": sboms(engineDigest(1)),
							})}),
							"sboms": sboms(engineDigest(1)),
						}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"tag": knownvalue.StringExact("v2"), "status": knownvalue.StringExact("failed"),
							"failure_reason": knownvalue.StringExact("pull failed: manifest unknown"),
							"package_count":  knownvalue.Int64Exact(0), "sboms": emptyMap,
						}),
					})),
				},
			},
			{
				// A multi-platform index: its platforms, and the package count summed over them.
				Config: engineImagesConfig(prov, "repository = \"docker-prod\"\nstatus = \"done\""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"image": knownvalue.StringExact("base/multi"), "digest": knownvalue.StringExact(engineDigest(3)),
							"status": knownvalue.StringExact("done"), "package_count": knownvalue.Int64Exact(61),
							"sboms": emptyMap,
							"platforms": knownvalue.ListExact([]knownvalue.Check{
								knownvalue.ObjectExact(map[string]knownvalue.Check{
									"platform": knownvalue.StringExact("linux/amd64"), "digest": knownvalue.StringExact(engineDigest(4)),
									"status": knownvalue.StringExact("done"), "package_count": knownvalue.Int64Exact(30), "sboms": sboms(engineDigest(4)),
								}),
								knownvalue.ObjectExact(map[string]knownvalue.Check{
									"platform": knownvalue.StringExact("linux/arm64/v8"), "digest": knownvalue.StringExact(engineDigest(5)),
									"status": knownvalue.StringExact("done"), "package_count": knownvalue.Int64Exact(31), "sboms": sboms(engineDigest(5)),
								}),
							}),
						}),
					})),
				},
			},
			{
				// Tag and image filters; a skipped artifact with its reason.
				Config: engineImagesConfig(prov, "image = \"charts/app\"\ntag = \"0.1.0\""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"status": knownvalue.StringExact("skipped"), "skip_reason": knownvalue.StringExact("not a container image: helm chart"),
							"analyzed_at": analyzedAt,
						}),
					})),
				},
			},
			{
				// No filter: every tag, across pages (next_offset followed to the end).
				Config: engineImagesConfig(prov, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images"), knownvalue.ListSizeExact(bulk+4)),
					statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images").AtSliceIndex(bulk-1), knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"integration": knownvalue.StringExact("bulk"), "image": knownvalue.StringExact(fmt.Sprintf("svc%04d", bulk-1)),
						"status": knownvalue.StringExact("discovered"), "analyzed_at": knownvalue.Null(),
					})),
				},
			},
			{
				// The data source's own engine_url and token override the provider's.
				Config: engineImagesConfig(`engine_url = "http://127.0.0.1:1"`+"\nengine_token = \"wrong\"",
					fmt.Sprintf("engine_url = %q\ntoken = %q\nintegration = \"prod\"\nstatus = \"failed\"", engine.URL, token)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images"), knownvalue.ListSizeExact(1)),
				},
			},
		},
	})
}

func TestEngineImagesDataSource_Errors(t *testing.T) {
	t.Parallel()
	const token = "inventory-token-9d02"
	engine := newInventoryEngine(t, token, 0)
	// A port nothing listens on: bind, note, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()

	step := func(prov, data, want string) resource.TestStep {
		return resource.TestStep{Config: engineImagesConfig(prov, data), ExpectError: re(want)}
	}
	withURL := func(u, extra string) string { return fmt.Sprintf("engine_url = %q\n%s", u, extra) }
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			step(withURL(engine.URL, `engine_token = "wrong-token"`), "",
				`(?s)The engine refused the token.*`+engine.URL+`/api/v1/images answered 401.*api_token_env`),
			step(withURL(engine.URL, ""), "", `(?s)The engine requires a token.*answered 401.*`+EnvEngineToken),
			step(withURL(closed, ""), "", `(?s)Cannot reach the imagewatch engine.*`+closed+`/api/v1/images.*Is the engine running`),
			step(withURL(engine.URL+"/not-the-engine", `engine_token = "`+token+`"`), "", `(?s)No inventory API at the engine URL.*answered 404`),
			step("", "", `(?s)Missing engine URL.*`+EnvEngineURL),
			step(withURL(engine.URL, ""), `status = "finished"`, `(?s)Attribute status value must be one of`),
			step(withURL(engine.URL, ""), `repository = "docker local"`, `(?s)Invalid repository key`),
			step(`engine_url = "ftp://engine.example"`, "", `(?s)Invalid engine URL.*must use http or https`),
			step("", `engine_url = "http://user:pw@engine.example"`, `(?s)Invalid engine URL.*must not contain credentials`),
		},
	})
}

// IMAGEWATCH_ENGINE_URL and IMAGEWATCH_ENGINE_TOKEN configure the data source when nothing else does.
func TestEngineImagesDataSource_Environment(t *testing.T) {
	const token = "inventory-token-e5a0"
	engine := newInventoryEngine(t, token, 0)
	t.Setenv(EnvEngineURL, engine.URL)
	t.Setenv(EnvEngineToken, token)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: engineImagesConfig("", `repository = "docker-local"`),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(engineImagesAddr, tfpath("images"), knownvalue.ListSizeExact(2)),
				secretInState{secret: token, want: false},
			},
		}},
	})
}

func TestEngineImagesDataSource_InvalidURLInEnvironment(t *testing.T) {
	t.Setenv(EnvEngineURL, "127.0.0.1:9090")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      engineImagesConfig("", ""),
			ExpectError: re(`(?s)Invalid ` + EnvEngineURL + ` environment variable.*"127.0.0.1:9090" has no scheme: write it like "http://127.0.0.1:9090"`),
		}},
	})
}
