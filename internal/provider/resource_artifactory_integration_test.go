package provider

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	enginecfg "github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

const integrationAddr = "imagewatch_artifactory_integration.test"

func tfpath(name string) tfjsonpath.Path { return tfjsonpath.New(name) }

// integrationConfig is a resource block named "test" with the given body.
func integrationConfig(body string) string {
	return "resource \"imagewatch_artifactory_integration\" \"test\" {\n  name = \"prod\"\n" + body + "\n}\n"
}

func repoCheck(key, class, packageType, status string) knownvalue.Check {
	val := func(s string) knownvalue.Check {
		if s == "" {
			return knownvalue.Null()
		}
		return knownvalue.StringExact(s)
	}
	return knownvalue.ObjectExact(map[string]knownvalue.Check{
		"key": knownvalue.StringExact(key), "class": val(class), "package_type": val(packageType), "status": knownvalue.StringExact(status),
	})
}

func TestIntegration_GoodPlansAndApplies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				PreConfig: f.srv.ResetRequests,
				Config: f.providerConfig("") + integrationConfig(`
  repository_keys = ["docker-prod", "docker-local", "docker-remote"]
  image_filters = [
    { repository = "docker-local", images = ["team/*", "**/api"], exclude = ["team/tmp-*"], tags = "^v[0-9]+" },
    { images = ["base/**"] },
  ]
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue(integrationAddr, tfpath("id"), knownvalue.StringExact("prod")),
					plancheck.ExpectKnownValue(integrationAddr, tfpath("url"), knownvalue.StringExact(f.srv.URL())),
					plancheck.ExpectKnownValue(integrationAddr, tfpath("registry_host"), knownvalue.StringExact(f.srv.RegistryHost())),
					plancheck.ExpectUnknownValue(integrationAddr, tfpath("artifactory_version")),
					plancheck.ExpectUnknownValue(integrationAddr, tfpath("repositories")),
					plancheck.ExpectSensitiveValue(integrationAddr, tfpath("access_token")),
					// The check ran during plan: credentials, then each key's configuration.
					checkFunc(func() error {
						if got := f.srv.Requests()["version"]; got < 1 {
							return fmt.Errorf("no credential check at plan time: %v", f.srv.Requests())
						}
						if got := f.srv.Requests()["repository"]; got < 3 {
							return fmt.Errorf("want >= 3 repository checks at plan time, got %v", f.srv.Requests())
						}
						return nil
					}),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("id"), knownvalue.StringExact("prod")),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("url"), knownvalue.StringExact(f.srv.URL())),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("username"), knownvalue.Null()),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("test_connection"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("registry_host"), knownvalue.StringExact(f.srv.RegistryHost())),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("repositories"), knownvalue.ListExact([]knownvalue.Check{
						repoCheck("docker-local", "local", "docker", "ok"),
						repoCheck("docker-prod", "local", "docker", "ok"),
						repoCheck("docker-remote", "remote", "docker", "ok"),
					})),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("image_filters").AtSliceIndex(0).AtMapKey("tags"), knownvalue.StringExact("^v[0-9]+")),
				},
			},
			{
				// Changing a key plans an update whose results are known after apply.
				Config: f.providerConfig("") + integrationConfig(`  repository_keys = ["docker-local"]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(integrationAddr, tfpath("repositories")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("repositories"), knownvalue.ListExact([]knownvalue.Check{
						repoCheck("docker-local", "local", "docker", "ok"),
					})),
				},
			},
		},
	})
}

// Each failing check stops the plan with the wording users know and each key's own reason.
func TestIntegration_PlanFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	revoked := f.srv.IssueToken(readerName, time.Hour)
	f.srv.RevokeToken(revoked)
	expired := f.srv.IssueToken(readerName, time.Nanosecond)
	time.Sleep(1100 * time.Millisecond) // JWT exp has second resolution

	withToken := func(token, keys string) string {
		return providerBlock(fmt.Sprintf("url = %q\naccess_token = %q", f.srv.URL(), token)) +
			integrationConfig("  repository_keys = "+keys)
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      withToken(revoked, `["docker-local"]`),
				PlanOnly:    true,
				ExpectError: re(`(?s)authentication failed: invalid credentials or insufficient\s+permissions.*refused the credentials \(Bearer token, no username\).*access token was rejected`),
			},
			{
				Config:      withToken(expired, `["docker-local"]`),
				PlanOnly:    true,
				ExpectError: re(`(?s)authentication failed: invalid credentials or insufficient\s+permissions.*access token has\s+expired`),
			},
			{
				Config:      withToken("not-a-real-token", `["docker-local"]`),
				PlanOnly:    true,
				ExpectError: re(`authentication failed: invalid credentials or insufficient\s+permissions`),
			},
			{
				Config:      withToken(f.token, `["docker-local", "docker-missing"]`),
				PlanOnly:    true,
				ExpectError: re(`(?s)repository access failed for: \[docker-missing\].*docker-missing:\s+repository\s+"docker-missing"\s+does\s+not\s+exist`),
			},
			{
				Config:      withToken(f.token, `["generic-local"]`),
				PlanOnly:    true,
				ExpectError: re(`(?s)repository access failed for: \[generic-local\].*generic-local:.*package\s+type\s+"generic",\s+not\s+Docker`),
			},
			{
				Config:      withToken(f.token, `["docker-secret"]`),
				PlanOnly:    true,
				ExpectError: re(`(?s)repository access failed for: \[docker-secret\].*docker-secret:.*lacks\s+READ\s+permission`),
			},
			{
				// Several failing keys: one diagnostic listing them all, each with its reason.
				Config:      withToken(f.token, `["docker-local", "generic-local", "docker-missing", "docker-secret"]`),
				PlanOnly:    true,
				ExpectError: re(`(?s)repository access failed for: \[docker-missing, docker-secret,\s+generic-local\].*docker-missing:.*not\s+exist.*docker-secret:.*READ.*generic-local:.*not\s+Docker`),
			},
		},
	})
}

// A legacy API key without username gets the hint that it needs one.
func TestIntegration_LegacyAPIKeyHint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	apiKey := "AKCp8" + strings.Repeat("k", 68)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      providerBlock(fmt.Sprintf("url = %q\naccess_token = %q", f.srv.URL(), apiKey)) + integrationConfig(`  repository_keys = ["docker-local"]`),
			PlanOnly:    true,
			ExpectError: re(`(?s)authentication failed.*legacy API key in the X-JFrog-Art-Api header.*legacy API key\s+needs\s+a\s+username`),
		}},
	})
}

// The failure diagnostics themselves: one error on repository_keys listing every failing key, no secret.
func TestCheckConnection_Diagnostics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	data := &providerData{RequestTimeout: 5 * time.Second, newClient: clientSettings{timeout: 5 * time.Second}.newClient}
	ctx := context.Background()
	conn := connection{URL: types.StringValue(f.srv.URL()), Username: types.StringNull(), Secret: types.StringValue(f.token)}
	client, diags := data.client(ctx, conn)
	if diags.HasError() {
		t.Fatal(diags)
	}
	report, diags := data.checkConnection(ctx, client, []string{"docker-local", "docker-missing", "generic-local"}, diag.SeverityError)
	if report == nil || !report.AuthOK {
		t.Fatalf("report = %+v", report)
	}
	if len(diags) != 1 {
		t.Fatalf("want exactly one diagnostic, got %d: %v", len(diags), diags)
	}
	d := diags[0]
	withPath, ok := d.(diag.DiagnosticWithPath)
	if !ok || !withPath.Path().Equal(path.Root("repository_keys")) {
		t.Errorf("diagnostic not attached to repository_keys: %#v", d)
	}
	if d.Severity() != diag.SeverityError || d.Summary() != "repository access failed for: [docker-missing, generic-local]" {
		t.Errorf("got %s %q", d.Severity(), d.Summary())
	}
	for _, want := range []string{"docker-missing: repository \"docker-missing\" does not exist", "generic-local: repository \"generic-local\" is a local repository of package type \"generic\""} {
		if !strings.Contains(d.Detail(), want) {
			t.Errorf("detail lacks %q:\n%s", want, d.Detail())
		}
	}
	if strings.Contains(d.Detail(), "docker-local:") {
		t.Errorf("a passing key is listed:\n%s", d.Detail())
	}

	// Read's re-check reports the same as a warning.
	_, diags = data.checkConnection(ctx, client, []string{"docker-missing"}, diag.SeverityWarning)
	if len(diags) != 1 || diags[0].Severity() != diag.SeverityWarning {
		t.Errorf("want one warning, got %v", diags)
	}

	// Refused credentials: the secret appears nowhere.
	bad := connection{URL: types.StringValue(f.srv.URL()), Username: types.StringValue(readerName), Secret: types.StringValue("wrong-password-9a7b")}
	client, _ = data.client(ctx, bad)
	_, diags = data.checkConnection(ctx, client, []string{"docker-local"}, diag.SeverityError)
	if len(diags) != 1 || diags[0].Summary() != summaryAuthFailed {
		t.Fatalf("got %v", diags)
	}
	if text := diags[0].Summary() + diags[0].Detail(); strings.Contains(text, "wrong-password-9a7b") || !strings.Contains(text, `user "reader"`) {
		t.Errorf("auth diagnostic leaks the secret or omits the user:\n%s", text)
	}
}

// unknownConnConfig takes url and token from a terraform_data output, which is unknown at plan.
func unknownConnConfig(f *fixture, keys string) string {
	return providerBlock("") + fmt.Sprintf(`
resource "terraform_data" "conn" {
  input = { url = %q, token = %q }
}
resource "imagewatch_artifactory_integration" "test" {
  name            = "prod"
  url             = terraform_data.conn.output.url
  access_token    = terraform_data.conn.output.token
  repository_keys = %s
}
`, f.srv.URL(), f.token, keys)
}

// Values unknown at plan: the plan succeeds without contacting Artifactory and the check runs at apply.
func TestIntegration_UnknownValuesDeferToApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: f.srv.ResetRequests,
			Config:    unknownConnConfig(f, `["docker-local"]`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(integrationAddr, tfpath("url")),
				plancheck.ExpectUnknownValue(integrationAddr, tfpath("registry_host")),
				plancheck.ExpectUnknownValue(integrationAddr, tfpath("artifactory_version")),
				noRequests(f.srv),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(integrationAddr, tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
				statecheck.ExpectKnownValue(integrationAddr, tfpath("registry_host"), knownvalue.StringExact(f.srv.RegistryHost())),
				statecheck.ExpectKnownValue(integrationAddr, tfpath("repositories"), knownvalue.ListExact([]knownvalue.Check{
					repoCheck("docker-local", "local", "docker", "ok"),
				})),
			},
		}},
	})
}

// A failing key with unknown values: the plan passes, the apply fails with the check's error.
func TestIntegration_UnknownValuesFailAtApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	planned := false
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: unknownConnConfig(f, `["docker-missing"]`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				checkFunc(func() error { planned = true; return nil }),
			}},
			ExpectError: re(`repository access failed for: \[docker-missing\]`),
		}},
	})
	if !planned {
		t.Error("the plan failed; with unknown values the check must wait for apply")
	}
}

// The warning itself, from ModifyPlan directly.
func TestIntegration_ModifyPlanWarnsOnUnknown(t *testing.T) {
	t.Parallel()
	r := &artifactoryIntegrationResource{data: &providerData{
		URL: types.StringNull(), Username: types.StringNull(), AccessToken: types.StringValue("t"), RequestTimeout: time.Second,
		newClient: func(context.Context, string, artifactory.Credentials) (*artifactory.Client, error) {
			return nil, fmt.Errorf("no client may be built while values are unknown")
		},
	}}
	ctx := context.Background()
	var sr fwresource.SchemaResponse
	r.Schema(ctx, fwresource.SchemaRequest{}, &sr)
	objType := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	vals := map[string]tftypes.Value{}
	for name, typ := range objType.AttributeTypes {
		vals[name] = tftypes.NewValue(typ, nil)
	}
	vals["name"] = tftypes.NewValue(tftypes.String, "prod")
	vals["url"] = tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	vals["test_connection"] = tftypes.NewValue(tftypes.Bool, true)
	vals["repository_keys"] = tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, []tftypes.Value{tftypes.NewValue(tftypes.String, "docker-local")})
	raw := tftypes.NewValue(objType, vals)
	req := fwresource.ModifyPlanRequest{
		Config: tfsdk.Config{Raw: raw, Schema: sr.Schema},
		Plan:   tfsdk.Plan{Raw: raw, Schema: sr.Schema},
		State:  tfsdk.State{Raw: tftypes.NewValue(objType, nil), Schema: sr.Schema},
	}
	resp := fwresource.ModifyPlanResponse{Plan: req.Plan}
	r.ModifyPlan(ctx, req, &resp)
	if resp.Diagnostics.HasError() || resp.Diagnostics.WarningsCount() != 1 {
		t.Fatalf("want exactly one warning, got %v", resp.Diagnostics)
	}
	w := resp.Diagnostics.Warnings()[0]
	if w.Summary() != "Test Connection will run at apply" || !strings.Contains(w.Detail(), "because url is known only after apply") {
		t.Errorf("warning = %q: %q", w.Summary(), w.Detail())
	}
	var version types.String
	resp.Plan.GetAttribute(ctx, path.Root("artifactory_version"), &version)
	if !version.IsUnknown() {
		t.Errorf("artifactory_version = %v, want unknown", version)
	}
}

func TestIntegration_WriteOnlyToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	second := f.srv.IssueToken(readerName, time.Hour)
	// The token comes in through an ephemeral variable, as it should in real use: neither the plan
	// nor the state may hold it.
	cfg := providerBlock(fmt.Sprintf("url = %q", f.srv.URL())) + `
variable "token" {
  type      = string
  ephemeral = true
}
variable "token_version" { type = number }
` + integrationConfig(`
  access_token_wo         = var.token
  access_token_wo_version = var.token_version
  repository_keys         = ["docker-local"]
`)
	vars := func(token string, version int) config.Variables {
		return config.Variables{"token": config.StringVariable(token), "token_version": config.IntegerVariable(version)}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		Steps: []resource.TestStep{
			{
				Config:          cfg,
				ConfigVariables: vars(f.token, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					secretInPlan{secret: f.token},
					plancheck.ExpectKnownValue(integrationAddr, tfpath("access_token_wo"), knownvalue.Null()),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("access_token_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("access_token"), knownvalue.Null()),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("access_token_wo_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
					secretInState{secret: f.token, want: false},
				},
			},
			{
				// A new token with a bumped version: an update, and the token is still nowhere.
				Config:          cfg,
				ConfigVariables: vars(second, 2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
					secretInPlan{secret: second},
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("access_token_wo_version"), knownvalue.Int64Exact(2)),
					secretInState{secret: second, want: false},
				},
			},
			{
				// The write-only token is what the check uses: a bad one fails the plan.
				Config:          cfg,
				ConfigVariables: vars("bad-token", 3),
				PlanOnly:        true,
				ExpectError:     re(`authentication failed: invalid credentials or insufficient permissions`),
			},
		},
	})
}

// Control for the check above: a plain access_token does land in state (sensitive), so
// secretInState can tell.
func TestIntegration_PlainTokenIsInState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(fmt.Sprintf("url = %q", f.srv.URL())) + integrationConfig(fmt.Sprintf(`
  access_token    = %q
  repository_keys = ["docker-local"]
`, f.token)),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectSensitiveValue(integrationAddr, tfpath("access_token")),
				secretInState{secret: f.token, want: true},
			},
		}},
	})
}

func TestIntegration_Import(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.providerConfig("") + integrationConfig(`  repository_keys = ["docker-local", "docker-prod"]`)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				// Name and keys: Read re-checks and fills everything the apply produced.
				Config:            cfg,
				ResourceName:      integrationAddr,
				ImportState:       true,
				ImportStateId:     "prod:docker-local, docker-prod",
				ImportStateVerify: true,
			},
			{
				// Name only: the declaration has nothing to look up, so keys come from the next apply.
				Config:        cfg,
				ResourceName:  integrationAddr,
				ImportState:   true,
				ImportStateId: "prod",
				ImportStateCheck: func(states []*terraform.InstanceState) error {
					if len(states) != 1 {
						return fmt.Errorf("want 1 state, got %d", len(states))
					}
					a := states[0].Attributes
					for k, want := range map[string]string{"id": "prod", "name": "prod", "url": f.srv.URL(), "registry_host": f.srv.RegistryHost(), "test_connection": "true"} {
						if a[k] != want {
							return fmt.Errorf("%s = %q, want %q", k, a[k], want)
						}
					}
					return nil
				},
			},
			{
				Config:        cfg,
				ResourceName:  integrationAddr,
				ImportState:   true,
				ImportStateId: "no spaces allowed",
				ExpectError:   re(`Invalid import ID`),
			},
		},
	})
}

// Refresh re-checks: a repository that disappears or loses permission shows in repositories (and as a
// warning) without failing the plan; a server that is down keeps the last known state.
func TestIntegration_ReadDrift(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.providerConfig(`request_timeout = "1s"`) + integrationConfig(`  repository_keys = ["docker-local", "docker-prod", "docker-remote"]`)
	drifted := knownvalue.ListExact([]knownvalue.Check{
		repoCheck("docker-local", "", "", "no_read_permission"), // the configuration is unreadable now too
		repoCheck("docker-prod", "", "", "not_found"),
		repoCheck("docker-remote", "remote", "docker", "ok"),
	})
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: func() {
					f.srv.RemoveRepository("docker-prod")
					f.srv.Revoke(readerName, "docker-local")
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("repositories"), drifted),
				},
			},
			{
				PreConfig: func() { f.srv.SetFault(artifactorytest.Fault{Status: 503}) },
				Config:    cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("repositories"), drifted),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
				},
			},
			{
				PreConfig: f.srv.ClearFaults,
				// Changing the integration while a key is broken fails the plan.
				Config:      f.providerConfig(`request_timeout = "1s"`) + integrationConfig(`  repository_keys = ["docker-local", "docker-prod"]`),
				PlanOnly:    true,
				ExpectError: re(`repository access failed for: \[docker-local, docker-prod\]`),
			},
		},
	})
}

// Read's drift warnings, from Read directly.
func TestIntegration_ReadWarnings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := &artifactoryIntegrationResource{data: &providerData{
		URL: types.StringValue(f.srv.URL()), Username: types.StringNull(), AccessToken: types.StringValue(f.token),
		RequestTimeout: 2 * time.Second, newClient: clientSettings{timeout: 2 * time.Second}.newClient,
	}}
	ctx := context.Background()
	var sr fwresource.SchemaResponse
	r.Schema(ctx, fwresource.SchemaRequest{}, &sr)
	objType := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	state := func() tfsdk.State {
		vals := map[string]tftypes.Value{}
		for name, typ := range objType.AttributeTypes {
			vals[name] = tftypes.NewValue(typ, nil)
		}
		vals["name"] = tftypes.NewValue(tftypes.String, "prod")
		vals["url"] = tftypes.NewValue(tftypes.String, f.srv.URL())
		vals["test_connection"] = tftypes.NewValue(tftypes.Bool, true)
		vals["repository_keys"] = tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, []tftypes.Value{
			tftypes.NewValue(tftypes.String, "docker-local"), tftypes.NewValue(tftypes.String, "docker-prod"),
		})
		return tfsdk.State{Raw: tftypes.NewValue(objType, vals), Schema: sr.Schema}
	}
	read := func() fwresource.ReadResponse {
		resp := fwresource.ReadResponse{State: state()}
		r.Read(ctx, fwresource.ReadRequest{State: state()}, &resp)
		return resp
	}

	f.srv.RemoveRepository("docker-prod")
	resp := read()
	if resp.Diagnostics.HasError() || resp.Diagnostics.WarningsCount() != 1 {
		t.Fatalf("want one warning, got %v", resp.Diagnostics)
	}
	if w := resp.Diagnostics.Warnings()[0]; w.Summary() != "repository access failed for: [docker-prod]" {
		t.Errorf("warning summary = %q", w.Summary())
	}

	// Server down: a warning naming the URL and timeout, and the state is kept.
	f.srv.SetFault(artifactorytest.Fault{Hang: true})
	start := time.Now()
	resp = read()
	elapsedUnder(t, start, 10*time.Second, "Read against a hanging server")
	if resp.Diagnostics.HasError() || resp.Diagnostics.WarningsCount() != 1 {
		t.Fatalf("want one warning, got %v", resp.Diagnostics)
	}
	w := resp.Diagnostics.Warnings()[0]
	if !strings.Contains(w.Summary(), "cannot reach Artifactory at "+f.srv.URL()) || !strings.Contains(w.Detail(), "request_timeout = 2s") {
		t.Errorf("warning = %q: %q", w.Summary(), w.Detail())
	}
	var name types.String
	resp.State.GetAttribute(ctx, path.Root("name"), &name)
	if name.ValueString() != "prod" {
		t.Errorf("state lost: name = %v", name)
	}
}

// A server that accepts connections and never answers: the plan fails quickly with the URL and timeout.
func TestIntegration_UnreachableTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var held []net.Conn // accept and hold, never answer
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	url := "http://" + ln.Addr().String()
	start := time.Now()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(fmt.Sprintf("url = %q\naccess_token = \"t\"\nrequest_timeout = \"2s\"", url)) +
				integrationConfig(`  repository_keys = ["docker-local"]`),
			PlanOnly:    true,
			ExpectError: re(`(?s)cannot reach Artifactory at ` + regexp.QuoteMeta(url) + `/artifactory.*within\s+request_timeout\s+=\s+2s`),
		}},
	})
	// terraform init + validate + plan plus the 2s check; far from the 30s default.
	elapsedUnder(t, start, 15*time.Second, "plan against a server that never answers")
}

func TestIntegration_TestConnectionDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: f.srv.ResetRequests,
			Config: f.providerConfig("") + integrationConfig(`
  repository_keys = ["docker-missing"]
  test_connection = false
`),
			ConfigStateChecks: []statecheck.StateCheck{
				noRequests(f.srv),
				statecheck.ExpectKnownValue(integrationAddr, tfpath("artifactory_version"), knownvalue.Null()),
				statecheck.ExpectKnownValue(integrationAddr, tfpath("repositories"), knownvalue.Null()),
				statecheck.ExpectKnownValue(integrationAddr, tfpath("registry_host"), knownvalue.StringExact(f.srv.RegistryHost())),
			},
		}},
	})
}

// Every validator of the resource, each failing terraform plan before any network call.
func TestIntegration_Validation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.ResetRequests()
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{
			Config:      f.providerConfig("") + "resource \"imagewatch_artifactory_integration\" \"test\" {\n" + body + "\n}\n",
			PlanOnly:    true,
			ExpectError: re(want),
		}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			step(`name = "bad name"
repository_keys = ["docker-local"]`, `(?s)Attribute name must start with a letter or digit`),
			step(`name = ""
repository_keys = ["docker-local"]`, `(?s)Attribute name string length must be between 1 and 64`),
			step(`name = "x"
url = "https://acme.jfrog.io/artifactory/api/repositories"
repository_keys = ["docker-local"]`, `(?s)Invalid Artifactory URL.*not an API path`),
			step(`name = "x"
repository_keys = []`, `(?s)Attribute repository_keys set must contain at least 1 elements`),
			step(`name = "x"
repository_keys = ["docker-local/team/app"]`, `(?s)Invalid repository key.*give only the key`),
			step(`name = "x"
repository_keys = ["1docker"]`, `(?s)Invalid repository key.*must start with a letter`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ repository = "docker local" }]`, `(?s)Invalid repository key.*contains a space`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ repository = "docker-prod" }]`, `(?s)Image filter names an unlisted repository.*image_filters\[0\]\.repository is\s+"docker-prod"`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ images = ["team/[abc"] }]`, `(?s)Invalid image glob.*"team/\[abc" is not a valid glob`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ images = [""] }]`, `(?s)Invalid image glob.*The glob is empty`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ exclude = ["{a,b"] }]`, `(?s)Invalid image glob.*"\{a,b" is not a valid glob`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ tags = "^(v1" }]`, `(?s)Invalid tag regular expression.*missing closing \)`),
			step(`name = "x"
repository_keys = ["docker-local"]
image_filters = [{ tags = "(?!latest)" }]`, `(?s)Invalid tag regular expression`),
			step(`name = "x"
repository_keys = ["docker-local"]
access_token = "a"
access_token_wo = "b"`, `(?s)Invalid Attribute Combination.*access_token.*access_token_wo`),
			step(`name = "x"
repository_keys = ["docker-local"]
access_token_wo_version = 1`, `(?s)Invalid Attribute Combination.*access_token_wo`),
		},
	})
	// None of the above reached Artifactory.
	if err := noRequests(f.srv)(); err != nil {
		t.Error(err)
	}
}

// loadFragment loads an integration's engine file with the engine's own loader and compares what
// matters: name, URL, credentials, repositories and filters.
func loadFragment(file string, want enginecfg.Integration) checkFunc {
	return func() error {
		got, err := enginecfg.LoadIntegration(file)
		if err != nil {
			return fmt.Errorf("config.LoadIntegration: %w", err)
		}
		switch {
		case got.Name != want.Name || got.BaseURL != want.BaseURL || got.Username != want.Username:
			return fmt.Errorf("name/base_url/username = %q/%q/%q, want %q/%q/%q", got.Name, got.BaseURL, got.Username, want.Name, want.BaseURL, want.Username)
		case got.Secret != want.Secret:
			return fmt.Errorf("the engine resolved another secret than the one configured (lengths %d and %d)", len(got.Secret), len(want.Secret))
		case got.WebhookSecret != want.WebhookSecret:
			return fmt.Errorf("the engine resolved another webhook secret (lengths %d and %d)", len(got.WebhookSecret), len(want.WebhookSecret))
		case !slices.Equal(got.Repositories, want.Repositories):
			return fmt.Errorf("repositories = %v, want %v", got.Repositories, want.Repositories)
		case !reflect.DeepEqual(got.ImageFilters, want.ImageFilters):
			return fmt.Errorf("image_filters = %+v, want %+v", got.ImageFilters, want.ImageFilters)
		}
		return nil
	}
}

func fileAbsent(path string) checkFunc {
	return func() error {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s still exists (stat: %v)", path, err)
		}
		return nil
	}
}

// The integration writes its engine file with the write-only token and webhook secret inline: the
// engine loads it with those secrets while neither the plan nor the state holds them. Out-of-band
// edits and removal are repaired on the next apply; destroy removes the file.
func TestIntegration_EngineFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "integrations.d") // missing: created 0700
	file := filepath.Join(dir, "prod.json")
	const hook = "webhook-secret-0b7e2"
	cfg := func(filters string) string {
		return providerBlock(fmt.Sprintf("url = %q\nengine_config_dir = %q", f.srv.URL(), dir)) + `
variable "token" {
  type      = string
  ephemeral = true
}
variable "hook" {
  type      = string
  ephemeral = true
}
` + integrationConfig(`
  access_token_wo           = var.token
  access_token_wo_version   = 1
  webhook_secret_wo         = var.hook
  webhook_secret_wo_version = 1
  repository_keys           = ["docker-local", "docker-prod"]
  image_filters             = `+filters)
	}
	vars := config.Variables{"token": config.StringVariable(f.token), "hook": config.StringVariable(hook)}
	want := func(filters ...artifactory.ImageFilter) enginecfg.Integration {
		return enginecfg.Integration{Name: "prod", BaseURL: f.srv.URL(), Secret: f.token, WebhookSecret: hook,
			Repositories: []string{"docker-local", "docker-prod"}, ImageFilters: filters}
	}
	first := []artifactory.ImageFilter{{Repository: "docker-local", Images: []string{"team/*"}, Tags: "^v"}}
	second := []artifactory.ImageFilter{{Repository: "docker-prod", Images: []string{"base/**"}, Exclude: []string{"base/tmp-*"}}}
	noSecrets := []statecheck.StateCheck{secretInState{secret: f.token, want: false}, secretInState{secret: hook, want: false}}
	noSecretsInPlan := []plancheck.PlanCheck{secretInPlan{secret: f.token}, secretInPlan{secret: hook}}
	var sha1 string
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             func(*terraform.State) error { return fileAbsent(file)() },
		Steps: []resource.TestStep{
			{
				Config:          cfg(`[{ repository = "docker-local", images = ["team/*"], tags = "^v" }]`),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: append(noSecretsInPlan,
					plancheck.ExpectKnownValue(integrationAddr, tfpath("engine_config_file"), knownvalue.StringExact(file)),
					plancheck.ExpectKnownValue(integrationAddr, tfpath("engine_config_dir"), knownvalue.StringExact(dir)),
				)},
				ConfigStateChecks: append(noSecrets,
					statecheck.ExpectKnownValue(integrationAddr, tfpath("engine_config_file"), knownvalue.StringExact(file)),
					statecheck.ExpectKnownValue(integrationAddr, tfpath("webhook_secret_wo"), knownvalue.Null()),
					loadFragment(file, want(first...)),
					fileMode(file, 0o600),
					fileMode(dir, 0o700),
					fragmentHashMatches(file),
					checkFunc(func() error { sha1 = fragmentSHA(file); return nil }),
				),
			},
			{
				// A filter change rewrites the file.
				Config:          cfg(`[{ repository = "docker-prod", images = ["base/**"], exclude = ["base/tmp-*"] }]`),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: append(noSecretsInPlan,
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
				)},
				ConfigStateChecks: append(noSecrets, loadFragment(file, want(second...)), fragmentHashMatches(file),
					checkFunc(func() error {
						if fragmentSHA(file) == sha1 {
							return errors.New("engine_config_sha256 did not change with the filters")
						}
						return nil
					})),
			},
			{
				// Edited outside Terraform (another token, another repository): restored.
				PreConfig: func() {
					raw := fmt.Sprintf(`{"name":"prod","base_url":%q,"access_token":"stolen","repositories":["docker-secret"]}`, f.srv.URL())
					if err := os.WriteFile(file, []byte(raw), 0o600); err != nil {
						t.Fatal(err)
					}
				},
				Config:          cfg(`[{ repository = "docker-prod", images = ["base/**"], exclude = ["base/tmp-*"] }]`),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: append(noSecretsInPlan,
					plancheck.ExpectNonEmptyPlan(),
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
				)},
				ConfigStateChecks: append(noSecrets, loadFragment(file, want(second...)), fragmentHashMatches(file)),
			},
			{
				// Only the write-only token changed on disk: seen at plan, where the configured token is.
				PreConfig: func() {
					raw, err := os.ReadFile(file)
					if err == nil {
						err = os.WriteFile(file, []byte(strings.ReplaceAll(string(raw), f.token, "rotated-by-hand")), 0o600)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config:          cfg(`[{ repository = "docker-prod", images = ["base/**"], exclude = ["base/tmp-*"] }]`),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: append(noSecrets, loadFragment(file, want(second...))),
			},
			{
				// Removed outside Terraform (the engine stopped polling it): written again.
				PreConfig: func() {
					if err := os.Remove(file); err != nil {
						t.Fatal(err)
					}
				},
				Config:          cfg(`[{ repository = "docker-prod", images = ["base/**"], exclude = ["base/tmp-*"] }]`),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: append(noSecretsInPlan,
					plancheck.ExpectNonEmptyPlan(),
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
				)},
				ConfigStateChecks: append(noSecrets, loadFragment(file, want(second...)), fileMode(file, 0o600)),
			},
		},
	})
}

// fragmentSHA is engine_config_sha256 as the provider computes it for the file on disk.
func fragmentSHA(file string) string {
	raw, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	sum, _ := fragmentFingerprint(raw)
	return sum
}

// fragmentHashMatches checks engine_config_sha256 against the file, and that it is not a plain hash
// of the file (which would let anyone holding the state test guesses of the secret).
func fragmentHashMatches(file string) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(integrationAddr, tfpath("engine_config_sha256"), knownvalue.StringFunc(func(v string) error {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if v == sha256Hex(raw) {
			return errors.New("engine_config_sha256 is the hash of the file with its secrets")
		}
		if want := fragmentSHA(file); v != want {
			return fmt.Errorf("engine_config_sha256 = %s, want %s", v, want)
		}
		return nil
	}))
}

// The provider's token from JFROG_ACCESS_TOKEN and engine_config_dir from the environment still
// reach the engine file (inline, 0600) and not the state; a resource's own engine_config_dir wins
// and moving it moves the file; renaming replaces the integration and its file; destroy removes it.
func TestIntegration_EngineFileFromEnvironment(t *testing.T) {
	f := newFixture(t)
	envDir, ownDir := filepath.Join(t.TempDir(), "env"), filepath.Join(t.TempDir(), "own")
	t.Setenv(EnvAccessToken, f.token)
	t.Setenv(EnvEngineConfigDir, envDir)
	res := func(name, extra string) string {
		return providerBlock(fmt.Sprintf("url = %q", f.srv.URL())) + fmt.Sprintf(`
resource "imagewatch_artifactory_integration" "test" {
  name            = %q
  repository_keys = ["docker-local"]
%s
}
`, name, extra)
	}
	want := func(name string) enginecfg.Integration {
		return enginecfg.Integration{Name: name, BaseURL: f.srv.URL(), Secret: f.token, Repositories: []string{"docker-local"}}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			for _, p := range []string{filepath.Join(envDir, "prod.json"), filepath.Join(ownDir, "prod.json"), filepath.Join(ownDir, "stage.json")} {
				if err := fileAbsent(p)(); err != nil {
					return err
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: res("prod", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(integrationAddr, tfpath("engine_config_dir"), knownvalue.StringExact(envDir)),
					loadFragment(filepath.Join(envDir, "prod.json"), want("prod")),
					fileMode(filepath.Join(envDir, "prod.json"), 0o600),
					secretInState{secret: f.token, want: false},
				},
			},
			{
				Config: res("prod", fmt.Sprintf("engine_config_dir = %q", ownDir)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					loadFragment(filepath.Join(ownDir, "prod.json"), want("prod")),
					fileAbsent(filepath.Join(envDir, "prod.json")),
				},
			},
			{
				Config: res("stage", fmt.Sprintf("engine_config_dir = %q", ownDir)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(integrationAddr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					loadFragment(filepath.Join(ownDir, "stage.json"), want("stage")),
					fileAbsent(filepath.Join(ownDir, "prod.json")),
				},
			},
		},
	})
}

// webhook_secret_wo is only written into the engine file: without a directory it is an error.
func TestIntegration_WebhookSecretNeedsEngineDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig("") + integrationConfig(`
  repository_keys   = ["docker-local"]
  webhook_secret_wo = "s"
`),
				PlanOnly:    true,
				ExpectError: re(`(?s)webhook_secret_wo needs engine_config_dir.*` + EnvEngineConfigDir),
			},
			{
				Config: f.providerConfig("") + integrationConfig(`
  repository_keys           = ["docker-local"]
  webhook_secret_wo_version = 1
`),
				PlanOnly:    true,
				ExpectError: re(`(?s)Invalid Attribute Combination.*webhook_secret_wo`),
			},
			{
				Config: f.providerConfig("") + integrationConfig(`
  repository_keys   = ["docker-local"]
  engine_config_dir = ""
`),
				PlanOnly:    true,
				ExpectError: re(`(?s)Attribute engine_config_dir string length must be at least 1`),
			},
		},
	})
}
