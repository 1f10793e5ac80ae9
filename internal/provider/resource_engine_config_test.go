package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

const engineConfigAddr = "imagewatch_engine_config.test"

// testDTKeyEnv is set by TestMain: the engine resolves *_env references when it loads the file,
// and t.Setenv would rule out t.Parallel.
const (
	testDTKeyEnv   = "IMAGEWATCH_TEST_DT_API_KEY"
	testDTKeyValue = "dt-key-7f3a"
)

// engineConfigBlock is an imagewatch_engine_config "test" with the given body.
func engineConfigBlock(body string) string {
	return providerBlock("") + "resource \"imagewatch_engine_config\" \"test\" {\n" + body + "\n}\n"
}

// fileMode fails unless path exists with exactly mode want.
func fileMode(path string, want os.FileMode) checkFunc {
	return func() error {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if st.Mode().Perm() != want {
			return fmt.Errorf("%s: mode %04o, want %04o", path, st.Mode().Perm(), want)
		}
		return nil
	}
}

// fileIs fails unless path holds exactly *want.
func fileIs(path string, want *[]byte) checkFunc {
	return func() error {
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(got) != string(*want) {
			return fmt.Errorf("%s:\n%s\nwant:\n%s", path, got, *want)
		}
		return nil
	}
}

func TestEngineConfig_WritesWhatTheEngineLoads(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cfgPath := filepath.Join(root, "etc", "imagewatch", "config.json") // parent missing: created 0700
	intDir := filepath.Join(root, "etc", "imagewatch", "integrations.d")
	tokenFile := filepath.Join(root, "inventory-token")
	if err := os.WriteFile(tokenFile, []byte("http-token-91c2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := func(workers int) string {
		return fmt.Sprintf(`
  path             = %q
  agent_id         = "acme-prod-agent"
  integrations_dir = %q
  state            = "sqlite://%s"
  outputs = [
    { type = "directory", path = %q },
    { type = "http", url = "https://inventory.internal/v1/images", token_file = %q },
    { type = "dependency_track", url = "https://dtrack.internal", api_key_env = %q },
  ]
  poll_interval = "90s"
  workers       = %d
  sbom_formats  = ["spdx-json", "cyclonedx-json"]
  listen        = "127.0.0.1:9091"
  log_format    = "json"
`, cfgPath, intDir, filepath.Join(root, "var", "imagewatch.db"), filepath.Join(root, "results"), tokenFile, testDTKeyEnv, workers)
	}

	// loads checks the file through the engine's own loader.
	loads := func(workers int) checkFunc {
		return func() error {
			cfg, _, err := config.Load(cfgPath)
			if err != nil {
				return fmt.Errorf("config.Load: %w", err)
			}
			wantOutputs := []config.Output{
				{Type: "directory", Path: filepath.Join(root, "results")},
				{Type: "http", URL: "https://inventory.internal/v1/images", Token: "http-token-91c2"},
				{Type: "dependency_track", URL: "https://dtrack.internal", APIKey: testDTKeyValue},
			}
			switch {
			case cfg.AgentID != "acme-prod-agent":
				return fmt.Errorf("agent_id = %q", cfg.AgentID)
			case cfg.IntegrationsDir != intDir:
				return fmt.Errorf("integrations_dir = %q, want %q", cfg.IntegrationsDir, intDir)
			case cfg.State != filepath.Join(root, "var", "imagewatch.db"):
				return fmt.Errorf("state = %q", cfg.State)
			case !slices.Equal(cfg.Outputs, wantOutputs):
				return fmt.Errorf("outputs = %+v, want %+v", cfg.Outputs, wantOutputs)
			case !slices.Equal(cfg.SBOMFormats, []string{"cyclonedx-json", "spdx-json"}):
				return fmt.Errorf("sbom_formats = %v", cfg.SBOMFormats)
			case cfg.PollInterval != 90*time.Second:
				return fmt.Errorf("poll_interval = %s", cfg.PollInterval)
			case cfg.Workers != workers:
				return fmt.Errorf("workers = %d, want %d", cfg.Workers, workers)
			case cfg.Listen != "127.0.0.1:9091" || cfg.LogFormat != "json":
				return fmt.Errorf("listen = %q, log_format = %q", cfg.Listen, cfg.LogFormat)
			}
			return nil
		}
	}
	// stateMatchesDisk: content is the file's exact text and content_sha256 its hash.
	stateMatchesDisk := func() []statecheck.StateCheck {
		return []statecheck.StateCheck{
			statecheck.ExpectKnownValue(engineConfigAddr, tfpath("id"), knownvalue.StringExact(cfgPath)),
			contentMatchesFile{addr: engineConfigAddr, path: cfgPath},
		}
	}

	var written []byte
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if _, err := os.Stat(cfgPath); !os.IsNotExist(err) {
				return fmt.Errorf("destroy left %s behind (stat: %v)", cfgPath, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: engineConfigBlock(body(3)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(engineConfigAddr, plancheck.ResourceActionCreate),
					// Rendered at plan: the settings are all known.
					plancheck.ExpectKnownValue(engineConfigAddr, tfpath("content_sha256"), knownvalue.NotNull()),
				}},
				ConfigStateChecks: append(stateMatchesDisk(),
					loads(3),
					fileMode(cfgPath, 0o600),
					fileMode(filepath.Dir(cfgPath), 0o700),
					fileMode(intDir, 0o700), // the engine requires integrations_dir to exist
					checkFunc(func() (err error) { written, err = os.ReadFile(cfgPath); return err }),
				),
			},
			{
				// Edited outside Terraform: refresh sees it, the plan updates, the apply restores it.
				PreConfig: func() {
					if err := os.WriteFile(cfgPath, []byte(`{"integrations_dir": "/elsewhere", "workers": 64}`), 0o600); err != nil {
						t.Fatal(err)
					}
				},
				Config: engineConfigBlock(body(3)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectNonEmptyPlan(),
					plancheck.ExpectResourceAction(engineConfigAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: append(stateMatchesDisk(), fileIs(cfgPath, &written), loads(3)),
			},
			{
				// Removed outside Terraform: the plan recreates it.
				PreConfig: func() {
					if err := os.Remove(cfgPath); err != nil {
						t.Fatal(err)
					}
				},
				Config: engineConfigBlock(body(3)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectNonEmptyPlan(),
					plancheck.ExpectResourceAction(engineConfigAddr, plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: append(stateMatchesDisk(), fileIs(cfgPath, &written), fileMode(cfgPath, 0o600)),
			},
			{
				// Opened to others: rewritten with mode 0600.
				PreConfig: func() {
					if err := os.Chmod(cfgPath, 0o644); err != nil {
						t.Fatal(err)
					}
				},
				Config: engineConfigBlock(body(3)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(engineConfigAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: append(stateMatchesDisk(), fileMode(cfgPath, 0o600), fileIs(cfgPath, &written)),
			},
			{
				// A changed setting is an in-place update.
				Config: engineConfigBlock(body(5)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(engineConfigAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: append(stateMatchesDisk(), loads(5)),
			},
		},
	})
}

// contentMatchesFile checks that content is the file's text and content_sha256 its SHA-256.
type contentMatchesFile struct{ addr, path string }

func (c contentMatchesFile) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		resp.Error = err
		return
	}
	for _, r := range req.State.Values.RootModule.Resources {
		if r.Address != c.addr {
			continue
		}
		if got := r.AttributeValues["content"]; got != string(data) {
			resp.Error = fmt.Errorf("content in state:\n%v\nfile:\n%s", got, data)
		} else if got := r.AttributeValues["content_sha256"]; got != sha256Hex(data) {
			resp.Error = fmt.Errorf("content_sha256 = %v, want %s", got, sha256Hex(data))
		}
		return
	}
	resp.Error = fmt.Errorf("%s not in state", c.addr)
}

// A minimal file (integrations_dir only, a relative one) loads with the engine's defaults, and the
// relative directory is created where the engine will look: beside the file.
func TestEngineConfig_MinimalAndRelativeIntegrationsDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cfgPath := filepath.Join(root, "config.json")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: engineConfigBlock(fmt.Sprintf("  path = %q\n  integrations_dir = \"integrations.d\"", cfgPath)),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(engineConfigAddr, tfpath("content"), knownvalue.StringExact("{\n  \"integrations_dir\": \"integrations.d\"\n}\n")),
				contentMatchesFile{addr: engineConfigAddr, path: cfgPath},
				checkFunc(func() error {
					cfg, _, err := config.Load(cfgPath)
					if err != nil {
						return err
					}
					if cfg.IntegrationsDir != filepath.Join(root, "integrations.d") {
						return fmt.Errorf("integrations_dir = %q", cfg.IntegrationsDir)
					}
					if cfg.PollInterval != config.DefaultPollInterval || len(cfg.Outputs) != 1 || cfg.Outputs[0].Path != filepath.Join(root, config.DefaultResultsDir) {
						return fmt.Errorf("defaults not applied: poll %s outputs %+v", cfg.PollInterval, cfg.Outputs)
					}
					return nil
				}),
			},
		}},
	})
}

// api_token_env / api_token_file (the inventory API's token) are written by reference and the
// engine's loader accepts them.
func TestEngineConfig_APIToken(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cfgPath := filepath.Join(root, "config.json")
	tokenFile := filepath.Join(root, "api-token")
	if err := os.WriteFile(tokenFile, []byte("inventory-token-44d1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{
			Config: engineConfigBlock(fmt.Sprintf("  path = %q\n  integrations_dir = \"integrations.d\"\n  listen = \"127.0.0.1:0\"\n", cfgPath) + body),
			ConfigStateChecks: []statecheck.StateCheck{
				contentMatchesFile{addr: engineConfigAddr, path: cfgPath},
				// The reference is in the file and the state; the token itself in neither.
				secretInState{secret: want, want: false},
				checkFunc(func() error {
					cfg, _, err := config.Load(cfgPath)
					if err != nil {
						return err
					}
					if cfg.APIToken != want {
						return fmt.Errorf("the engine resolved api token %q, want %q", cfg.APIToken, want)
					}
					return nil
				}),
			},
		}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			step(fmt.Sprintf("  api_token_file = %q", tokenFile), "inventory-token-44d1"),
			step(fmt.Sprintf("  api_token_env = %q", testDTKeyEnv), testDTKeyValue),
		},
	})
}

// Every validator, each failing the plan with a message naming the attribute and what to write.
func TestEngineConfig_Validation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := fmt.Sprintf("  path = %q\n  integrations_dir = %q\n", filepath.Join(dir, "config.json"), filepath.Join(dir, "int"))
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{Config: engineConfigBlock(base + body), PlanOnly: true, ExpectError: re(want)}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: engineConfigBlock(`path = "/tmp/x.json"`), PlanOnly: true, ExpectError: re(`(?s)The argument "integrations_dir" is required`)},
			{Config: engineConfigBlock("path = \"\"\nintegrations_dir = \"d\""), PlanOnly: true, ExpectError: re(`(?s)Attribute path string length must be at least 1`)},
			{Config: engineConfigBlock(fmt.Sprintf("path = %q\nintegrations_dir = \".\"", filepath.Join(dir, "config.json"))), PlanOnly: true,
				ExpectError: re(`(?s)integrations_dir holds the configuration file.*would load config.json as an integration`)},
			step(`poll_interval = "soon"`, `(?s)Invalid duration.*"soon" is not a duration`),
			step(`poll_interval = "500ms"`, `(?s)Invalid duration.*500ms is shorter than the minimum 1s`),
			step(`workers = 0`, `(?s)Attribute workers value must be at least 1, got: 0`),
			step(`sbom_formats = ["cyclonedx"]`, `(?s)Invalid Attribute Value Match.*value must be one of.*cyclonedx-json`),
			step(`sbom_formats = []`, `(?s)Attribute sbom_formats set must contain at least 1 elements`),
			step(`listen = "localhost"`, `(?s)Invalid listen address.*"localhost" is not host:port`),
			step(`listen = "127.0.0.1:99999"`, `(?s)Invalid listen address.*invalid port`),
			step(`log_format = "yaml"`, `(?s)Attribute log_format value must be one of`),
			step(`api_token_env = "not-a-var"`, `(?s)Invalid environment variable name`),
			step("api_token_env = \"A\"\napi_token_file = \"/run/secrets/t\"", `(?s)Invalid Attribute Combination.*api_token_env.*api_token_file`),
			step(`outputs = []`, `(?s)Attribute outputs list must contain at least 1 elements`),
			step(`outputs = [{ type = "s3", path = "/r" }]`, `(?s)Attribute outputs\[0\]\.type value must be one of`),
			step(`outputs = [{ type = "directory" }]`, `(?s)Missing output path.*outputs\[0\] is a directory output`),
			step(`outputs = [{ type = "http" }]`, `(?s)Missing output URL.*outputs\[0\] is a http output: set url`),
			step(`outputs = [{ type = "http", url = "https://x.example", path = "/r" }]`, `(?s)Attribute not used by this output type.*outputs\[0\]\.path is not used by a http output`),
			step(`outputs = [{ type = "directory", path = "/r", token_env = "T" }]`, `(?s)outputs\[0\]\.token_env is not used by a directory output`),
			step(`outputs = [{ type = "dependency_track", url = "https://dt.example" }]`, `(?s)Missing Dependency-Track API key.*BOM_UPLOAD`),
			step(`outputs = [{ type = "http", url = "ftp://x.example" }]`, `(?s)Invalid output URL.*must use http or https`),
			step(`outputs = [{ type = "http", url = "https://u:pw@x.example" }]`, `(?s)Invalid output URL.*must not contain credentials`),
			step(`outputs = [{ type = "http", url = "https://x.example", token_env = "lowercase-secret" }]`, `(?s)Invalid environment variable name`),
			step(`outputs = [{ type = "http", url = "https://x.example", token_env = "T", token_file = "/t" }]`, `(?s)Invalid Attribute Combination`),
			step(`outputs = [{ type = "directory", path = "/r" }, { type = "directory", path = "/r" }]`, `(?s)Duplicate output.*outputs\[1\] is the same directory output as outputs\[0\]`),
		},
	})
}
