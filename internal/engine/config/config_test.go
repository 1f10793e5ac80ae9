package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// writeFile writes body to dir/name with mode (chmod'ed explicitly: umask must not hide the warning).
func writeFile(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, path string) (*Config, []string) {
	t.Helper()
	cfg, warns, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg, warns
}

// testCA writes a self-signed CA certificate in PEM and returns its path.
func testCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imagewatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o600)
}

func hasWarning(warns []string, subs ...string) bool {
	for _, w := range warns {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(w, s)
		}
		if all {
			return true
		}
	}
	return false
}

// A Docker Scout agent config.json (the shape of Scout's documentation) loads unchanged.
const scoutConfig = `{
  "agent_id": "acme-prod-agent",
  "docker": {
    "organization_name": "acme",
    "username": "mobythewhale",
    "pat": "dckr_pat__dsaCAs_xL3kNyupAa7dwO1alwg"
  },
  "artifactory": [
    {
      "base_url": "https://acme.jfrog.io",
      "username": "acmeagent",
      "password": "hayKMvFKkFp42RAwKz2K",
      "image_filters": [
        {
          "repository": "dev-local",
          "images": ["internal/repo1", "internal/repo2"]
        },
        {
          "repository": "prod-local",
          "images": ["staging/repo1", "prod/repo1"]
        }
      ]
    }
  ]
}
`

func TestLoadScoutConfigUnchanged(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "config.json", scoutConfig, 0o600)
	cfg, warns := mustLoad(t, path)

	if cfg.Path != path || cfg.AgentID != "acme-prod-agent" {
		t.Errorf("Path/AgentID = %q/%q", cfg.Path, cfg.AgentID)
	}
	if !reflect.DeepEqual(cfg.Unused, []string{"docker"}) {
		t.Errorf("Unused = %v, want [docker]", cfg.Unused)
	}
	if !hasWarning(warns, path, "docker", "not used") {
		t.Errorf("no warning about the unused docker section: %q", warns)
	}
	if len(cfg.Integrations) != 1 {
		t.Fatalf("Integrations = %d, want 1", len(cfg.Integrations))
	}
	in := cfg.Integrations[0]
	if in.Name != "acme.jfrog.io" || in.BaseURL != "https://acme.jfrog.io" || in.Username != "acmeagent" || in.Secret != "hayKMvFKkFp42RAwKz2K" {
		t.Errorf("integration = %+v (secret ok: %v)", in, in.Secret == "hayKMvFKkFp42RAwKz2K")
	}
	if in.Credentials().Mode() != artifactory.AuthBasic {
		t.Errorf("auth mode = %v, want basic", in.Credentials().Mode())
	}
	if want := []string{"dev-local", "prod-local"}; !reflect.DeepEqual(in.Repositories, want) {
		t.Errorf("Repositories = %v, want %v", in.Repositories, want)
	}
	wantFilters := []artifactory.ImageFilter{
		{Repository: "dev-local", Images: []string{"internal/repo1", "internal/repo2"}},
		{Repository: "prod-local", Images: []string{"staging/repo1", "prod/repo1"}},
	}
	if !reflect.DeepEqual(in.ImageFilters, wantFilters) {
		t.Errorf("ImageFilters = %+v", in.ImageFilters)
	}
	// Scout's semantics through the shared FilterSet: exact names select images per repository.
	fs, err := artifactory.CompileFilters(in.ImageFilters)
	if err != nil {
		t.Fatal(err)
	}
	if !fs.Match("dev-local", "internal/repo1", "1.0") || fs.Match("dev-local", "internal/other", "1.0") || fs.Match("prod-local", "internal/repo1", "1.0") {
		t.Error("filters do not select Scout's images")
	}
}

func TestLoadDesignExample(t *testing.T) {
	raw, err := os.ReadFile("testdata/design-example.json")
	if err != nil {
		t.Fatal(err)
	}
	// testdata is DESIGN.md's example with the // comments removed; fail on drift when the shared tree is present.
	if design, err := os.ReadFile("/work/shared/DESIGN.md"); err == nil {
		_, block, found := strings.Cut(string(design), "```jsonc\n")
		block, _, _ = strings.Cut(block, "```")
		if !found || regexp.MustCompile(`[ \t]+//[^\n]*`).ReplaceAllString(block, "") != string(raw) {
			t.Errorf("testdata/design-example.json differs from the example in DESIGN.md (comments removed): refresh it")
		}
	}
	dir := t.TempDir()
	ca := testCA(t, dir)
	intDir := filepath.Join(dir, "integrations.d")
	if err := os.Mkdir(intDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Only the machine paths move into the temp dir; every key and value else is the example's.
	body := strings.NewReplacer(
		"/etc/ssl/corp-ca.pem", ca,
		"/etc/imagewatch/integrations.d", intDir,
		"/var/lib/imagewatch", filepath.Join(dir, "var"),
	).Replace(string(raw))
	t.Setenv("INVENTORY_TOKEN", "inv-token-123")
	t.Setenv("DT_API_KEY", "odt_dtkey456")
	path := writeFile(t, dir, "config.json", body, 0o600)
	cfg, warns := mustLoad(t, path)

	if len(cfg.Integrations) != 1 {
		t.Fatalf("Integrations = %d", len(cfg.Integrations))
	}
	in := cfg.Integrations[0]
	if in.Name != "prod" || in.Username != "acmeagent" || in.Secret != "..." || in.CAFile != ca || in.InsecureSkipVerify {
		t.Errorf("integration = %+v", in)
	}
	if want := []string{"docker-local", "docker-prod", "dev-local"}; !reflect.DeepEqual(in.Repositories, want) {
		t.Errorf("Repositories = %v, want %v (repositories plus keys named by filters)", in.Repositories, want)
	}
	if want := []artifactory.ImageFilter{{Repository: "dev-local", Images: []string{"internal/*"}, Exclude: []string{"internal/tmp-*"}, Tags: "^v[0-9]"}}; !reflect.DeepEqual(in.ImageFilters, want) {
		t.Errorf("ImageFilters = %+v", in.ImageFilters)
	}
	if !hasWarning(warns, "artifactory[0]", "access_token is used", "access_token_env, access_token_file, password, password_env, password_file ignored") {
		t.Errorf("no warning about the ignored secret sources: %q", warns)
	}
	if cfg.IntegrationsDir != intDir || cfg.State != filepath.Join(dir, "var", "imagewatch.db") {
		t.Errorf("IntegrationsDir/State = %q/%q", cfg.IntegrationsDir, cfg.State)
	}
	wantOut := []Output{
		{Type: "directory", Path: filepath.Join(dir, "var", "results")},
		{Type: "http", URL: "https://inventory.internal/v1/images", Token: "inv-token-123"},
		{Type: "dependency_track", URL: "https://dtrack.internal", APIKey: "odt_dtkey456"},
	}
	if !reflect.DeepEqual(cfg.Outputs, wantOut) {
		t.Errorf("Outputs = %+v", cfg.Outputs)
	}
	if !reflect.DeepEqual(cfg.SBOMFormats, []string{"cyclonedx-json", "spdx-json", "syft-json"}) || cfg.PollInterval != time.Minute ||
		cfg.Workers != 4 || cfg.Listen != "127.0.0.1:9090" || cfg.LogFormat != "json" || cfg.AgentID != "acme-prod-agent" {
		t.Errorf("settings = %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Unused, []string{"docker"}) {
		t.Errorf("Unused = %v", cfg.Unused)
	}
	opts := in.ClientOptions()
	if len(opts) != 2 { // credentials + CA file; insecure_skip_verify is false
		t.Errorf("ClientOptions = %d options, want 2", len(opts))
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "engine.json", `{"artifactory":[{"base_url":"http://localhost:8082/artifactory/","repositories":["docker-local"]}]}`, 0o600)
	cfg, warns := mustLoad(t, path)
	if len(warns) != 0 {
		t.Errorf("warnings = %q", warns)
	}
	want := &Config{
		Path:         path,
		Integrations: []Integration{{Name: "localhost:8082", BaseURL: "http://localhost:8082/artifactory/", Repositories: []string{"docker-local"}}},
		State:        filepath.Join(dir, "imagewatch.db"),
		Outputs:      []Output{{Type: "directory", Path: filepath.Join(dir, "results")}},
		SBOMFormats:  []string{"cyclonedx-json"},
		PollInterval: 60 * time.Second,
		Workers:      runtime.NumCPU(),
		LogFormat:    "text",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", cfg, want)
	}
	if cfg.Integrations[0].Credentials().Mode() != artifactory.AuthNone {
		t.Errorf("anonymous integration got mode %v", cfg.Integrations[0].Credentials().Mode())
	}
}

func TestStateAndRelativePaths(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secrets/token", "  tok-from-file \n", 0o600)
	for _, tc := range []struct{ state, want string }{
		{`"sqlite:///srv/iw/x.db"`, "/srv/iw/x.db"},
		{`"/srv/iw/y.db"`, "/srv/iw/y.db"},
		{`"data/z.db"`, filepath.Join(dir, "data", "z.db")},
		{`"sqlite://data/z.db"`, filepath.Join(dir, "data", "z.db")},
	} {
		path := writeFile(t, dir, "c.json", `{"state": `+tc.state+`,
			"artifactory":[{"base_url":"https://a.example","access_token_file":"secrets/token","repositories":"docker-a, docker-b; docker-a"}],
			"outputs":[{"type":"directory","path":"out"}]}`, 0o600)
		cfg, _ := mustLoad(t, path)
		if cfg.State != tc.want {
			t.Errorf("state %s -> %q, want %q", tc.state, cfg.State, tc.want)
		}
		in := cfg.Integrations[0]
		if in.Secret != "tok-from-file" || in.Credentials().Mode() != artifactory.AuthBearer {
			t.Errorf("secret from relative file not resolved and trimmed (mode %v)", in.Credentials().Mode())
		}
		if !reflect.DeepEqual(in.Repositories, []string{"docker-a", "docker-b"}) {
			t.Errorf("Repositories = %v", in.Repositories)
		}
		if cfg.Outputs[0].Path != filepath.Join(dir, "out") {
			t.Errorf("output path = %q", cfg.Outputs[0].Path)
		}
	}
}

func TestSecretFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("IW_TEST_PASSWORD", "pw-from-env")
	path := writeFile(t, dir, "c.json", `{"artifactory":[{"base_url":"https://a.example","username":"bot","password_env":"IW_TEST_PASSWORD","repositories":["r"]}]}`, 0o600)
	cfg, warns := mustLoad(t, path)
	if got := cfg.Integrations[0].Credentials(); got.Secret != "pw-from-env" || got.Username != "bot" {
		t.Errorf("credentials not resolved from env (user %q)", got.Username)
	}
	if len(warns) != 0 {
		t.Errorf("warnings = %q", warns)
	}
}

// TestErrors checks every error class: one problem in, exactly one *Error out, at the exact JSON path.
func TestErrors(t *testing.T) {
	const base = `"base_url":"https://a.example"`
	notPEM := "" // set below
	cases := []struct {
		name, body, path, msg string
	}{
		{"unknown top-level key", `{"pol_interval":"5m","artifactory":[{` + base + `,"repositories":["r"]}]}`, "pol_interval", `unknown key "pol_interval" in the configuration: did you mean "poll_interval"?`},
		{"unknown integration key", `{"artifactory":[{` + base + `,"pasword":"x","repositories":["r"]}]}`, "artifactory[0].pasword", `did you mean "password"?`},
		{"unknown filter key", `{"artifactory":[{` + base + `,"image_filters":[{"repository":"a"},{"repository":"b","tag":"^v"}]}]}`, "artifactory[0].image_filters[1].tag", `did you mean "tags"?`},
		{"unknown key far from any", `{"artifactory":[{` + base + `,"repositories":["r"],"zzzzzzzz":1}]}`, "artifactory[0].zzzzzzzz", "valid keys are name, base_url"},
		{"odd key name", `{"artifactory":[{` + base + `,"repositories":["r"],"a b":1}]}`, `artifactory[0]["a b"]`, "unknown key"},
		{"top level not an object", `[1,2]`, "", "must be an object (the configuration), not an array"},
		{"artifactory not an array", `{"artifactory":{` + base + `}}`, "artifactory", "must be an array of integration objects, not an object"},
		{"workers wrong type", `{"workers":"4","artifactory":[{` + base + `,"repositories":["r"]}]}`, "workers", "must be a whole number, not a string"},
		{"workers fractional", `{"workers":2.5,"artifactory":[{` + base + `,"repositories":["r"]}]}`, "workers", "must be a whole number, not 2.5"},
		{"workers < 1", `{"workers":0,"artifactory":[{` + base + `,"repositories":["r"]}]}`, "workers", "must be at least 1"},
		{"bool wrong type", `{"artifactory":[{` + base + `,"repositories":["r"],"insecure_skip_verify":"yes"}]}`, "artifactory[0].insecure_skip_verify", "must be true or false, not a string"},
		{"glob element wrong type", `{"artifactory":[{` + base + `,"image_filters":[{"repository":"a","images":["x",7]}]}]}`, "artifactory[0].image_filters[0].images[1]", "must be a string, not a number"},
		{"bad url scheme", `{"artifactory":[{"base_url":"ftp://a.example","repositories":["r"]}]}`, "artifactory[0].base_url", "http or https"},
		{"url without scheme", `{"artifactory":[{"base_url":"acme.jfrog.io","repositories":["r"]}]}`, "artifactory[0].base_url", "no scheme"},
		{"base_url missing", `{"artifactory":[{"repositories":["r"]}]}`, "artifactory[0].base_url", "is required"},
		{"bad regex", `{"artifactory":[{` + base + `,"image_filters":[{"repository":"a"},{"repository":"b","tags":"^v[0-9"}]}]}`, "artifactory[0].image_filters[1].tags", "invalid regular expression"},
		{"bad glob", `{"artifactory":[{` + base + `,"image_filters":[{"repository":"a","images":["ok/*","team/[abc"]}]}]}`, "artifactory[0].image_filters[0].images[1]", "invalid glob"},
		{"bad exclude glob", `{"artifactory":[{` + base + `,"image_filters":[{"repository":"a","exclude":["{a,b"]}]}]}`, "artifactory[0].image_filters[0].exclude[0]", "invalid glob"},
		{"bad filter repository", `{"artifactory":[{` + base + `,"image_filters":[{"repository":"dev/local"}]}]}`, "artifactory[0].image_filters[0].repository", "contains '/'"},
		{"bad repository key", `{"artifactory":[{` + base + `,"repositories":["ok","1bad"]}]}`, "artifactory[0].repositories[1]", "must start with a letter"},
		{"empty repository entry", `{"artifactory":[{` + base + `,"repositories":["ok"," , "]}]}`, "artifactory[0].repositories[1]", "is empty"},
		{"no repositories", `{"artifactory":[{` + base + `}]}`, "artifactory[0].repositories", "no repository to watch"},
		{"only global filters", `{"artifactory":[{` + base + `,"image_filters":[{"images":["a/*"]}]}]}`, "artifactory[0].repositories", "no repository to watch"},
		{"env unset", `{"artifactory":[{` + base + `,"access_token_env":"IW_TEST_UNSET_VAR","repositories":["r"]}]}`, "artifactory[0].access_token_env", "environment variable IW_TEST_UNSET_VAR is not set"},
		{"env empty", `{"artifactory":[{` + base + `,"access_token_env":"IW_TEST_EMPTY_VAR","repositories":["r"]}]}`, "artifactory[0].access_token_env", "environment variable IW_TEST_EMPTY_VAR is empty"},
		{"secret file missing", `{"artifactory":[{` + base + `,"username":"u","password_file":"/nonexistent/imagewatch/pw","repositories":["r"]}]}`, "artifactory[0].password_file", "cannot read /nonexistent/imagewatch/pw: no such file or directory"},
		{"secret file empty", `{"artifactory":[{` + base + `,"username":"u","password_file":"./empty","repositories":["r"]}]}`, "artifactory[0].password_file", "is empty"},
		{"username without secret", `{"artifactory":[{` + base + `,"username":"u","repositories":["r"]}]}`, "artifactory[0].username", "without a password or token"},
		{"duplicate names", `{"artifactory":[{` + base + `,"repositories":["r"]},{"base_url":"https://a.example/artifactory","repositories":["s"]}]}`, "artifactory[1].name", `integration name "a.example" is already used by artifactory[0]`},
		{"invalid name", `{"artifactory":[{` + base + `,"name":"has space","repositories":["r"]}]}`, "artifactory[0].name", "not a valid name"},
		{"ca file not PEM", `{"artifactory":[{` + base + `,"repositories":["r"],"ca_file":"NOTPEM"}]}`, "artifactory[0].ca_file", "holds no PEM certificate"},
		{"no integrations", `{"workers":2}`, "artifactory", "no integration configured"},
		{"integrations_dir missing", `{"integrations_dir":"/nonexistent/imagewatch.d"}`, "integrations_dir", "no such file or directory"},
		{"unknown sbom format", `{"sbom_formats":["cyclonedx-json","spdx"],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "sbom_formats[1]", `unknown SBOM format "spdx"`},
		{"sbom format suggestion", `{"sbom_formats":["cyclonedx"],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "sbom_formats[0]", `did you mean "cyclonedx-json"?`},
		{"empty sbom formats", `{"sbom_formats":[],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "sbom_formats", "is empty"},
		{"unknown output type", `{"outputs":[{"type":"s3","path":"x"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[0].type", `unknown output type "s3"`},
		{"output type missing", `{"outputs":[{"path":"x"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[0].type", "is required"},
		{"output key of another type", `{"outputs":[{"type":"directory","path":"x","token":"t"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[0].token", "is not used by a directory output"},
		{"unknown output key", `{"outputs":[{"type":"http","url":"https://h.example","tokn":"t"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[0].tokn", `did you mean "token"?`},
		{"http output bad url", `{"outputs":[{"type":"http","url":"ftp://h.example"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[0].url", "must use http or https"},
		{"dependency_track without key", `{"outputs":[{"type":"dependency_track","url":"https://dt.example"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[0].api_key_env", "needs an API key"},
		{"duplicate output", `{"outputs":[{"type":"directory","path":"x"},{"type":"directory","path":"./x"}],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs[1]", "same directory output as outputs[0]"},
		{"empty outputs", `{"outputs":[],"artifactory":[{` + base + `,"repositories":["r"]}]}`, "outputs", "is empty"},
		{"poll interval not a duration", `{"poll_interval":"5","artifactory":[{` + base + `,"repositories":["r"]}]}`, "poll_interval", `"5" is not a duration`},
		{"poll interval a number", `{"poll_interval":60,"artifactory":[{` + base + `,"repositories":["r"]}]}`, "poll_interval", `e.g. "60s", not a number`},
		{"poll interval too short", `{"poll_interval":"60ms","artifactory":[{` + base + `,"repositories":["r"]}]}`, "poll_interval", "too short"},
		{"bad listen", `{"listen":"9090","artifactory":[{` + base + `,"repositories":["r"]}]}`, "listen", "not host:port"},
		{"bad log format", `{"log_format":"xml","artifactory":[{` + base + `,"repositories":["r"]}]}`, "log_format", `use "text" or "json"`},
		{"unsupported state", `{"state":"postgres://db/iw","artifactory":[{` + base + `,"repositories":["r"]}]}`, "state", `unsupported store "postgres"`},
		{"docker not an object", `{"docker":"acme","artifactory":[{` + base + `,"repositories":["r"]}]}`, "docker", "must be an object"},
		{"duplicate key", `{"artifactory":[{` + base + `,"repositories":["r"],"repositories":["s"]}]}`, "artifactory[0].repositories", "duplicate key"},
		{"syntax error", "{\n  \"workers\": 2,\n  \"listen\": }\n", "", "invalid JSON at line 3, column 13"},
		{"trailing comma", "{\n  \"workers\": 2,\n}\n", "", "JSON allows no trailing comma"},
		{"comment", "{\n  // hello\n  \"workers\": 2\n}\n", "", "JSON has no comments"},
		{"truncated", `{"artifactory":[{`, "", "unexpected end of file"},
		{"trailing data", `{"workers":2} {}`, "", "unexpected data after the end"},
		{"empty file", "  \n", "", "the file is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("IW_TEST_EMPTY_VAR", "")
			writeFile(t, dir, "empty", "\n", 0o600)
			notPEM = writeFile(t, dir, "notpem.txt", "not a certificate\n", 0o600)
			path := writeFile(t, dir, "config.json", strings.ReplaceAll(tc.body, "NOTPEM", notPEM), 0o600)
			cfg, _, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Error("Load returned a config along with an error")
			}
			t.Log(err)
			errs := Errors(err)
			if len(errs) != 1 {
				t.Fatalf("want exactly 1 error, got %d: %v", len(errs), err)
			}
			e := errs[0]
			if e.Path != tc.path {
				t.Errorf("Path = %q, want %q (%v)", e.Path, tc.path, e)
			}
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", e.Msg, tc.msg)
			}
			wantPrefix := path + ": "
			if tc.path != "" {
				wantPrefix += tc.path + ": "
			}
			if !strings.HasPrefix(err.Error(), wantPrefix) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), wantPrefix)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Error("errors.As(*Error) failed")
			}
		})
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.json", `{
	  "workers": 0,
	  "log_format": "yaml",
	  "artifactory": [
	    {"base_url": "https://a.example", "repositories": ["r"], "image_filters": [{"repository": "r", "tags": "("}]},
	    {"base_url": "gopher://b.example", "colour": "red"},
	    {"base_url": "https://a.example/artifactory", "repositories": ["t"]}
	  ]
	}`, 0o600)
	_, _, err := Load(path)
	var got []string
	for _, e := range Errors(err) {
		got = append(got, e.Path)
	}
	want := []string{"artifactory[0].image_filters[0].tags", "artifactory[1].colour", "artifactory[1].base_url", "artifactory[1].repositories", "artifactory[2].name", "workers", "log_format"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("error paths = %q, want %q\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("Error() has %d lines, want one per problem:\n%v", n, err)
	}
}

func TestPermissionWarning(t *testing.T) {
	dir := t.TempDir()
	body := `{"docker":{"pat":"dckr_pat_x"},"artifactory":[{"base_url":"https://a.example","username":"u","password":"pw","repositories":["r"]}]}`
	path := writeFile(t, dir, "c.json", body, 0o644)
	_, warns := mustLoad(t, path)
	if !hasWarning(warns, path, "mode 0644", `chmod 600 `+path, "inline secrets (docker.pat, artifactory[0].password)") {
		t.Errorf("no permission warning naming the file, the fix and the inline secrets: %q", warns)
	}
	// No inline secret: still warned, without the secret sentence.
	t.Setenv("IW_TEST_PW", "pw")
	path2 := writeFile(t, dir, "d.json", `{"artifactory":[{"base_url":"https://a.example","username":"u","password_env":"IW_TEST_PW","repositories":["r"]}]}`, 0o640)
	_, warns = mustLoad(t, path2)
	if !hasWarning(warns, path2, "chmod 600") || hasWarning(warns, "inline secrets") {
		t.Errorf("warnings for 0640 without inline secret = %q", warns)
	}
	// 0600: nothing to say.
	path3 := writeFile(t, dir, "e.json", body, 0o600)
	_, warns = mustLoad(t, path3)
	if hasWarning(warns, "chmod") {
		t.Errorf("0600 file warned: %q", warns)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	const pw, tok, key = "Sup3rS3cretPassw0rd", "inventory-T0ken-xyz", "dt-Ap1Key-abc"
	t.Setenv("IW_TEST_TOK", tok)
	writeFile(t, dir, "dtkey", key+"\n", 0o600)
	path := writeFile(t, dir, "c.json", `{"artifactory":[{"base_url":"https://a.example","username":"u","password":"`+pw+`","repositories":["r"]}],
	  "outputs":[{"type":"http","url":"https://h.example/hook?sig=QuerySecret1","token_env":"IW_TEST_TOK"},{"type":"dependency_track","url":"https://dt.example","api_key_file":"./dtkey"}]}`, 0o600)
	cfg, _ := mustLoad(t, path)
	if cfg.Integrations[0].Secret != pw || cfg.Outputs[0].Token != tok || cfg.Outputs[1].APIKey != key {
		t.Fatal("secrets not resolved")
	}
	secrets := []string{pw, tok, key, "QuerySecret1"}
	values := map[string]any{"cfg": *cfg, "ptr": cfg, "integrations": cfg.Integrations, "integration": cfg.Integrations[0], "outputs": cfg.Outputs, "output": cfg.Outputs[1]}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10.3v"} {
			out := sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(out, hexOf(s)) {
					t.Errorf("%s printed with %s leaks %q: %s", name, verb, s, out)
				}
			}
		}
	}
	if out := sprintf("%+v", cfg.Integrations[0]); !strings.Contains(out, redacted) || !strings.Contains(out, "a.example") {
		t.Errorf("redacted form should show the marker and the rest: %s", out)
	}
	out := jsonOf(t, cfg)
	for _, s := range secrets[:3] {
		if strings.Contains(out, s) {
			t.Errorf("JSON of the config leaks %q", s)
		}
	}
	for _, format := range []string{"text", "json"} {
		out := logOf(format, cfg)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("hclog %s leaks %q: %s", format, s, out)
			}
		}
	}
}

// Secrets in the wrong place must not reach error messages either.
func TestSecretsNotInErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, secret string }{
		{"credentials in base_url", `{"artifactory":[{"base_url":"https://bot:UrlPassw0rd9@a.example","repositories":["r"]}]}`, "UrlPassw0rd9"},
		{"credentials in base_url without scheme", `{"artifactory":[{"base_url":"bot:NoSchemePw7@acme.jfrog.io","repositories":["r"]}]}`, "NoSchemePw7"},
		{"query in base_url", `{"artifactory":[{"base_url":"https://a.example/?token=QueryTok3n","repositories":["r"]}]}`, "QueryTok3n"},
		{"password of the wrong type", `{"artifactory":[{"base_url":"https://a.example","username":"u","password":918273645501,"repositories":["r"]}]}`, "918273645501"},
		{"token pasted into _env", `{"artifactory":[{"base_url":"https://a.example","access_token_env":"eyJ2ZXIiOiIyIn0.PastedTok","repositories":["r"]}]}`, "PastedTok"},
		{"mixed-case password pasted into _env", `{"artifactory":[{"base_url":"https://a.example","username":"u","password_env":"hayKMvFKkFp42RAwKz2K","repositories":["r"]}]}`, "hayKMvFKkFp42RAwKz2K"},
		{"password pasted into _file", `{"artifactory":[{"base_url":"https://a.example","username":"u","password_file":"hayKMvFKkFp42RAwKz2K","repositories":["r"]}]}`, "hayKMvFKkFp42RAwKz2K"},
		{"http output url with credentials", `{"artifactory":[{"base_url":"https://a.example","repositories":["r"]}],"outputs":[{"type":"http","url":"https://u:OutPassw0rd@h.example"}]}`, "OutPassw0rd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "c.json", tc.body, 0o600)
			_, warns, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error leaks the secret: %v", err)
			}
			if len(Errors(err)) != 1 || Errors(err)[0].Path == "" {
				t.Errorf("want one error with a path, got %v", err)
			}
			for _, w := range warns {
				if strings.Contains(w, tc.secret) {
					t.Errorf("warning leaks the secret: %s", w)
				}
			}
		})
	}
}

func TestNullMeansUnset(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.json", `{"workers":null,"listen":null,"artifactory":[{"base_url":"https://a.example","ca_file":null,"password":null,"repositories":["r"]}]}`, 0o600)
	cfg, _ := mustLoad(t, path)
	if cfg.Workers != runtime.NumCPU() || cfg.Listen != "" || cfg.Integrations[0].CAFile != "" {
		t.Errorf("null not treated as unset: %+v", cfg)
	}
}

func TestLoadIntegrationFragment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("IW_TEST_FRAG_TOKEN", "frag-token")
	good := writeFile(t, dir, "prod.json", `{"name":"prod","base_url":"https://a.example","access_token_env":"IW_TEST_FRAG_TOKEN","image_filters":[{"repository":"docker-prod","tags":"^v"}]}`, 0o600)
	in, err := LoadIntegration(good)
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "prod" || in.Secret != "frag-token" || !reflect.DeepEqual(in.Repositories, []string{"docker-prod"}) {
		t.Errorf("fragment = %+v", in)
	}

	bad := writeFile(t, dir, "bad.json", `{"base_url":"https://b.example","image_filters":[{"repository":"r","tags":"[z-a]"}],"docker":{}}`, 0o600)
	_, err = LoadIntegration(bad)
	var paths []string
	for _, e := range Errors(err) {
		if e.File != bad {
			t.Errorf("error file = %q, want %q", e.File, bad)
		}
		paths = append(paths, e.Path)
	}
	if !reflect.DeepEqual(paths, []string{"docker", "image_filters[0].tags"}) {
		t.Errorf("fragment error paths = %q (%v)", paths, err)
	}
	if !strings.HasPrefix(err.Error(), bad+": docker: unknown key") {
		t.Errorf("Error() = %q", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.json", `{"name":"one","base_url":"https://a.example","repositories":["r"]}`, 0o600)
	writeFile(t, dir, "b.json", `{"name":"two","base_url":"https://b.example","repositories":["s"],"password":"pw","username":"u"}`, 0o644)
	writeFile(t, dir, "README.md", "not a fragment", 0o600)
	ins, warns, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || ins[0].Name != "one" || ins[1].Name != "two" {
		t.Errorf("LoadDir = %+v", ins)
	}
	if !hasWarning(warns, filepath.Join(dir, "b.json"), "chmod 600", "inline secrets (password)") {
		t.Errorf("no permission warning for b.json: %q", warns)
	}
	writeFile(t, dir, "c.json", `{"name":"one","base_url":"https://c.example","repositories":["t"]}`, 0o600)
	ins, _, err = LoadDir(dir)
	if len(ins) != 2 {
		t.Errorf("LoadDir with one bad fragment returned %d good ones, want 2", len(ins))
	}
	errs := Errors(err)
	if len(errs) != 1 || errs[0].File != filepath.Join(dir, "c.json") || errs[0].Path != "name" || !strings.Contains(errs[0].Msg, "a.json") {
		t.Errorf("duplicate name across fragments: %v", err)
	}
}

func TestAllIntegrations(t *testing.T) {
	dir := t.TempDir()
	intDir := filepath.Join(dir, "integrations.d")
	writeFile(t, intDir, "b.json", `{"name":"frag","base_url":"https://b.example","repositories":["s"]}`, 0o600)
	path := writeFile(t, dir, "c.json", `{"artifactory":[{"name":"main","base_url":"https://a.example","repositories":["r"]}],"integrations_dir":"integrations.d"}`, 0o600)
	cfg, _ := mustLoad(t, path)
	all, _, err := cfg.AllIntegrations()
	if err != nil || len(all) != 2 || all[0].Name != "main" || all[1].Name != "frag" {
		t.Fatalf("AllIntegrations = %+v, %v", all, err)
	}
	if len(cfg.Integrations) != 1 {
		t.Error("AllIntegrations changed cfg.Integrations")
	}
	writeFile(t, intDir, "c.json", `{"name":"main","base_url":"https://c.example","repositories":["t"]}`, 0o600)
	all, _, err = cfg.AllIntegrations()
	if errs := Errors(err); len(errs) != 1 || !strings.Contains(errs[0].Msg, `integration "main", already defined by artifactory[0]`) || len(all) != 2 {
		t.Errorf("name clash with the main file: %d integrations, %v", len(all), err)
	}
}
