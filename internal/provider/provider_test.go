package provider

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

// TestMain pins the real Terraform CLI found on PATH (so terraform-plugin-testing never downloads one)
// and gives Terraform a CLI configuration whose only provider source is an empty mirror: a test that
// needed the public registry would fail instead of reaching out.
func TestMain(m *testing.M) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		fmt.Fprintln(os.Stderr, "provider tests need the terraform CLI on PATH (e.g. /usr/local/bin/terraform):", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "imagewatch-provider-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mirror := filepath.Join(dir, "empty-mirror")
	cliConfig := filepath.Join(dir, "terraformrc")
	err = os.Mkdir(mirror, 0o700)
	if err == nil {
		err = os.WriteFile(cliConfig, []byte(fmt.Sprintf(`disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["*/*/*"]
  }
}
`, mirror)), 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"TF_ACC_TERRAFORM_PATH":     tf,
		"TF_ACC_PROVIDER_NAMESPACE": "imagewatch", // reattach as registry.terraform.io/imagewatch/imagewatch
		"TF_CLI_CONFIG_FILE":        cliConfig,
		"CHECKPOINT_DISABLE":        "1",
	} {
		_ = os.Setenv(k, v)
	}
	// The provider reads these; tests set them explicitly where they matter.
	for _, k := range []string{EnvURL, EnvAccessToken, EnvUsername, EnvEngineConfigDir, EnvEngineURL, EnvEngineToken} {
		_ = os.Unsetenv(k)
	}
	_ = os.Setenv(testDTKeyEnv, testDTKeyValue) // an engine *_env reference the engine's loader resolves
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var testProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"imagewatch": providerserver.NewProtocol6WithError(New("test")()),
}

// header declares the provider by its registry address, as users do.
const header = `
terraform {
  required_providers {
    imagewatch = { source = "imagewatch/imagewatch" }
  }
}
`

// providerBlock returns the header plus a provider block with the given body.
func providerBlock(body string) string {
	return header + "provider \"imagewatch\" {\n" + body + "\n}\n"
}

// fixture is one Artifactory double with the repositories and users most tests need:
//
//	docker-local, docker-prod (local, docker)  readable by "reader"
//	docker-remote (remote, docker)             readable by "reader"
//	generic-local (local, generic)             readable by "reader"
//	docker-secret (local, docker)              not readable by "reader"
type fixture struct {
	srv   *artifactorytest.Server
	token string // reader's access token
}

const (
	readerName     = "reader"
	readerPassword = "reader-password-5f1c"
)

func newFixture(t *testing.T, opts ...artifactorytest.Option) *fixture {
	t.Helper()
	srv := artifactorytest.NewTest(t, opts...)
	srv.AddUser(artifactorytest.User{Name: readerName, Password: readerPassword})
	for _, r := range []artifactorytest.Repository{
		{Key: "docker-local", Class: "local", PackageType: "docker"},
		{Key: "docker-prod", Class: "local", PackageType: "docker"},
		{Key: "docker-remote", Class: "remote", PackageType: "docker"},
		{Key: "generic-local", Class: "local", PackageType: "generic"},
		{Key: "docker-secret", Class: "local", PackageType: "docker"},
	} {
		srv.AddRepository(r)
	}
	for _, k := range []string{"docker-local", "docker-prod", "docker-remote", "generic-local"} {
		srv.Grant(readerName, k)
	}
	return &fixture{srv: srv, token: srv.IssueToken(readerName, time.Hour)}
}

// providerConfig configures the provider with the fixture's URL and the reader's token.
func (f *fixture) providerConfig(extra string) string {
	return providerBlock(fmt.Sprintf("url = %q\naccess_token = %q\n%s", f.srv.URL(), f.token, extra))
}

// totalRequests counts every request the double has served.
func totalRequests(srv *artifactorytest.Server) int {
	n := 0
	for _, c := range srv.Requests() {
		n += c
	}
	return n
}

// checkFunc adapts a closure to both plancheck.PlanCheck and statecheck.StateCheck.
type checkFunc func() error

func (f checkFunc) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = f()
}

func (f checkFunc) CheckState(_ context.Context, _ statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = f()
}

// noRequests fails when the double has served any request since the last ResetRequests.
func noRequests(srv *artifactorytest.Server) checkFunc {
	return func() error {
		if n := totalRequests(srv); n != 0 {
			return fmt.Errorf("expected no request to Artifactory, got %d: %v", n, srv.Requests())
		}
		return nil
	}
}

// secretInState checks whether the full state JSON (terraform show -json, which includes sensitive
// values) contains secret; want says whether it should.
type secretInState struct {
	secret string
	want   bool
}

func (c secretInState) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	b, err := json.Marshal(req.State)
	if err != nil {
		resp.Error = err
		return
	}
	if got := bytes.Contains(b, []byte(c.secret)); got != c.want {
		resp.Error = fmt.Errorf("secret in state = %v, want %v", got, c.want)
	}
}

// secretInPlan is the same check on the plan JSON.
type secretInPlan struct{ secret string }

func (c secretInPlan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	b, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	if bytes.Contains(b, []byte(c.secret)) {
		resp.Error = fmt.Errorf("the plan JSON contains the secret")
	}
}

// buildImage builds a single-platform image whose one layer is a real file tree written to a temp
// directory and tarred from disk.
func buildImage(t *testing.T, arch string, files map[string]string) v1.Image {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = filepath.ToSlash(rel)
		hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = epoch, 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: epoch}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushImage pushes img and returns its digest.
func pushImage(t *testing.T, srv *artifactorytest.Server, key, image, tag string, img v1.Image) string {
	t.Helper()
	digest, err := srv.PushImage(context.Background(), key, image, tag, img)
	if err != nil {
		t.Fatalf("push %s/%s:%s: %v", key, image, tag, err)
	}
	return digest
}

// Provider configuration makes no network call: a config that only uses a function and a builtin
// resource applies without a single request to the configured Artifactory.
func TestProvider_ConfigureIsOffline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: f.providerConfig(`request_timeout = "5s"`) + `
resource "terraform_data" "unrelated" { input = "x" }
output "keys" { value = provider::imagewatch::repository_keys("a, b") }
`,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noRequests(f.srv)}},
			ConfigStateChecks: []statecheck.StateCheck{
				noRequests(f.srv),
				statecheck.ExpectKnownOutputValue("keys", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.StringExact("a"), knownvalue.StringExact("b"),
				})),
			},
		}},
	})
}

// The JFROG_* environment variables configure the provider when its block leaves them out.
func TestProvider_EnvironmentFallback(t *testing.T) {
	f := newFixture(t)
	t.Setenv(EnvURL, f.srv.URL()+"/artifactory/")
	t.Setenv(EnvUsername, readerName)
	t.Setenv(EnvAccessToken, readerPassword) // Basic: username + password
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock("") + `
resource "imagewatch_artifactory_integration" "env" {
  name            = "env"
  repository_keys = ["docker-local"]
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("imagewatch_artifactory_integration.env", tfpath("url"), knownvalue.StringExact(f.srv.URL()+"/artifactory/")),
				statecheck.ExpectKnownValue("imagewatch_artifactory_integration.env", tfpath("username"), knownvalue.StringExact(readerName)),
				statecheck.ExpectKnownValue("imagewatch_artifactory_integration.env", tfpath("registry_host"), knownvalue.StringExact(f.srv.RegistryHost())),
				statecheck.ExpectKnownValue("imagewatch_artifactory_integration.env", tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
				// The provider's secret is never copied into the resource's state.
				statecheck.ExpectKnownValue("imagewatch_artifactory_integration.env", tfpath("access_token"), knownvalue.Null()),
				secretInState{secret: readerPassword, want: false},
			},
		}},
	})
}

func TestProvider_Validation(t *testing.T) {
	res := `
resource "imagewatch_artifactory_integration" "x" {
  name            = "x"
  repository_keys = ["docker-local"]
}
`
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      providerBlock(`url = "ftp://acme.jfrog.io"`) + res,
				PlanOnly:    true,
				ExpectError: re(`(?s)Invalid Artifactory URL.*url must use http or https`),
			},
			{
				Config:      providerBlock(`url = "https://user:pw@acme.jfrog.io"`) + res,
				PlanOnly:    true,
				ExpectError: re(`(?s)Invalid Artifactory URL.*must not contain credentials`),
			},
			{
				Config:      providerBlock(`url = "https://acme.jfrog.io"`+"\n"+`request_timeout = "soon"`) + res,
				PlanOnly:    true,
				ExpectError: re(`(?s)Invalid duration.*"soon" is not a duration`),
			},
			{
				Config:      providerBlock(`url = "https://acme.jfrog.io"`+"\n"+`request_timeout = "0s"`) + res,
				PlanOnly:    true,
				ExpectError: re(`(?s)Invalid duration.*0s is outside the allowed range 1s to\s+10m0s`),
			},
			{
				// No url anywhere: the resource says where to set one.
				Config:      providerBlock(``) + res,
				PlanOnly:    true,
				ExpectError: re(`(?s)Missing Artifactory URL.*JFROG_URL`),
			},
		},
	})
}

func TestProvider_InvalidURLInEnvironment(t *testing.T) {
	t.Setenv(EnvURL, "acme.jfrog.io")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerBlock(``) + `
resource "imagewatch_artifactory_integration" "x" {
  name            = "x"
  repository_keys = ["docker-local"]
}
`,
			PlanOnly:    true,
			ExpectError: re(`(?s)Invalid JFROG_URL environment variable.*has no scheme`),
		}},
	})
}

// deadline returns how long a test may still run, for tests that assert elapsed time.
func elapsedUnder(t *testing.T, start time.Time, limit time.Duration, what string) {
	t.Helper()
	if d := time.Since(start); d > limit {
		t.Errorf("%s took %s, want under %s", what, d.Round(time.Millisecond), limit)
	} else {
		t.Logf("%s took %s", what, d.Round(time.Millisecond))
	}
}

// re compiles an ExpectError pattern whose spaces match any whitespace: Terraform wraps long
// diagnostic lines at its own column.
func re(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, " ", `\s+`))
}

// ca_cert_file and insecure_skip_verify reach the client: an Artifactory behind TLS with a private CA
// fails without them and passes with either.
func TestProvider_TLSSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target, err := url.Parse(f.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(tlsSrv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(providerExtra, name string) string {
		return providerBlock(fmt.Sprintf("url = %q\naccess_token = %q\nrequest_timeout = \"3s\"\n%s", tlsSrv.URL, f.token, providerExtra)) +
			fmt.Sprintf(`
resource "imagewatch_artifactory_integration" "tls" {
  name            = %q
  repository_keys = ["docker-local"]
}
`, name)
	}
	host := strings.TrimPrefix(tlsSrv.URL, "https://")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      cfg("", "tls"),
				PlanOnly:    true,
				ExpectError: re(`(?s)cannot reach Artifactory at ` + regexp.QuoteMeta(tlsSrv.URL) + `/artifactory.*certificate.*set ca_cert_file`),
			},
			{
				Config:      cfg(`ca_cert_file = "`+filepath.Join(t.TempDir(), "missing.pem")+`"`, "tls"),
				PlanOnly:    true,
				ExpectError: re(`(?s)Invalid Artifactory connection settings.*CA file`),
			},
			{
				Config: cfg(fmt.Sprintf("ca_cert_file = %q", caFile), "tls"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("imagewatch_artifactory_integration.tls", tfpath("registry_host"), knownvalue.StringExact(host)),
					statecheck.ExpectKnownValue("imagewatch_artifactory_integration.tls", tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
				},
			},
			{
				Config: cfg("insecure_skip_verify = true", "tls-insecure"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imagewatch_artifactory_integration.tls", plancheck.ResourceActionReplace),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("imagewatch_artifactory_integration.tls", tfpath("artifactory_version"), knownvalue.StringExact("7.77.5")),
				},
			},
		},
	})
}

// Credentials travel as a unit: a resource's own token never borrows the provider's username, which
// would turn a Bearer token into Basic authentication.
func TestResolveConnection(t *testing.T) {
	t.Parallel()
	s, null, unknown := types.StringValue, types.StringNull(), types.StringUnknown()
	d := &providerData{URL: s("https://p.example"), Username: s("puser"), AccessToken: s("ptoken")}
	for _, tc := range []struct {
		name                  string
		in                    connectionConfig
		url, username, secret types.String
		source                credentialSource
	}{
		{"all from provider", connectionConfig{null, null, null, null}, s("https://p.example"), s("puser"), s("ptoken"), credentialsFromProvider},
		{"own url, provider credentials", connectionConfig{s("https://r.example"), null, null, null}, s("https://r.example"), s("puser"), s("ptoken"), credentialsFromProvider},
		{"own token: no provider username", connectionConfig{null, null, s("rtoken"), null}, s("https://p.example"), null, s("rtoken"), credentialsFromResource},
		{"own username and token", connectionConfig{null, s("ruser"), s("rtoken"), null}, s("https://p.example"), s("ruser"), s("rtoken"), credentialsFromResource},
		{"write-only token", connectionConfig{null, null, null, s("wo")}, s("https://p.example"), null, s("wo"), credentialsWriteOnly},
		{"own username, provider token", connectionConfig{null, s("ruser"), null, null}, s("https://p.example"), s("ruser"), s("ptoken"), credentialsFromProvider},
		{"unknown url stays unknown", connectionConfig{unknown, null, null, null}, unknown, s("puser"), s("ptoken"), credentialsFromProvider},
	} {
		got := d.resolve(tc.in)
		if !got.URL.Equal(tc.url) || !got.Username.Equal(tc.username) || !got.Secret.Equal(tc.secret) || got.Source != tc.source {
			t.Errorf("%s: got url=%v username=%v secret=%v source=%s", tc.name, got.URL, got.Username, got.Secret, got.Source)
		}
	}
	if got := (connection{URL: unknown, Username: null, Secret: unknown}).unknown(); strings.Join(got, ",") != "url,the access token" {
		t.Errorf("unknown() = %v", got)
	}
}
