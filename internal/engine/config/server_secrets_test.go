package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// The engine's server secrets: webhook_secret per integration and api_token at
// the top level resolve like every other secret (inline, _env, _file).
func TestWebhookSecretAndAPITokenResolution(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("IW_TEST_HOOK_A", "hook-secret-from-env")
	writeFile(t, dir, "secrets/hook-b", "  hook-secret-from-file\n", 0o600)
	writeFile(t, dir, "secrets/api", "api-token-from-file\n", 0o600)
	path := writeFile(t, dir, "c.json", `{
	  "listen": "0.0.0.0:9090",
	  "api_token_file": "secrets/api",
	  "artifactory": [
	    {"name": "a", "base_url": "https://a.example", "repositories": ["r"], "webhook_secret_env": "IW_TEST_HOOK_A"},
	    {"name": "b", "base_url": "https://b.example", "repositories": ["r"], "webhook_secret_file": "./secrets/hook-b"},
	    {"name": "c", "base_url": "https://c.example", "repositories": ["r"]}
	  ]}`, 0o600)
	cfg, warns := mustLoad(t, path)
	if len(warns) != 0 {
		t.Errorf("warnings = %q (a token protects the exposed API)", warns)
	}
	if cfg.APIToken != "api-token-from-file" {
		t.Errorf("APIToken not resolved from the relative file and trimmed (got %d bytes)", len(cfg.APIToken))
	}
	for i, want := range []string{"hook-secret-from-env", "hook-secret-from-file", ""} {
		if got := cfg.Integrations[i].WebhookSecret; got != want {
			t.Errorf("artifactory[%d].WebhookSecret = %d bytes, want %q", i, len(got), want)
		}
		if cfg.Integrations[i].Secret != "" {
			t.Errorf("artifactory[%d]: the webhook secret leaked into the Artifactory credentials", i)
		}
	}

	// Inline: used as given, and named by the permission warning.
	t.Setenv("IW_TEST_API", "api-token-from-env")
	path = writeFile(t, dir, "inline.json", `{"listen":"127.0.0.1:9090","api_token":"inline-api-token",
	  "artifactory":[{"base_url":"https://a.example","repositories":["r"],"webhook_secret":"inline-hook"}]}`, 0o644)
	cfg, warns = mustLoad(t, path)
	if cfg.APIToken != "inline-api-token" || cfg.Integrations[0].WebhookSecret != "inline-hook" {
		t.Error("inline api_token / webhook_secret not used")
	}
	if !hasWarning(warns, path, "chmod 600", "inline secrets (artifactory[0].webhook_secret, api_token)") {
		t.Errorf("permission warning does not name the inline server secrets: %q", warns)
	}

	// Several sources: the first is used (inline, then _env, then _file), the others warned about.
	path = writeFile(t, dir, "both.json", `{"listen":"127.0.0.1:9090","api_token_env":"IW_TEST_API","api_token_file":"secrets/api",
	  "artifactory":[{"base_url":"https://a.example","repositories":["r"],"webhook_secret":"w1","webhook_secret_env":"IW_TEST_HOOK_A"}]}`, 0o600)
	cfg, warns = mustLoad(t, path)
	if cfg.APIToken != "api-token-from-env" || cfg.Integrations[0].WebhookSecret != "w1" {
		t.Error("precedence inline > _env > _file not applied")
	}
	if !hasWarning(warns, "api_token_env is used and api_token_file ignored") ||
		!hasWarning(warns, "artifactory[0]", "webhook_secret is used and webhook_secret_env ignored") {
		t.Errorf("no warning about the ignored sources: %q", warns)
	}
}

func TestScoutConfigHasNoServerSecrets(t *testing.T) {
	cfg, _ := mustLoad(t, writeFile(t, t.TempDir(), "config.json", scoutConfig, 0o600))
	if cfg.APIToken != "" || cfg.Integrations[0].WebhookSecret != "" || cfg.Listen != "" {
		t.Errorf("a Scout config got server settings: %+v", cfg)
	}
	if cfg.Integrations[0].Secret == "" {
		t.Error("the Scout password is no longer the integration's secret")
	}
}

func TestListenExposureWarnings(t *testing.T) {
	t.Setenv("IW_TEST_API", "tok")
	const in = `"artifactory":[{"base_url":"https://a.example","repositories":["r"]}]`
	for _, tc := range []struct {
		name, extra string
		warnPath    string // "" = no warning
		warnText    string
	}{
		{"all interfaces, no token", `"listen":":9090"`, "listen", `":9090" accepts connections from other machines and no api_token is set`},
		{"0.0.0.0, no token", `"listen":"0.0.0.0:9090"`, "listen", "set api_token_env or api_token_file, or listen on 127.0.0.1"},
		{"IPv6 any, no token", `"listen":"[::]:9090"`, "listen", "no api_token is set"},
		{"host name, no token", `"listen":"engine.internal:9090"`, "listen", "no api_token is set"},
		{"routable address, no token", `"listen":"10.1.2.3:9090"`, "listen", "no api_token is set"},
		{"loopback v4", `"listen":"127.0.0.1:9090"`, "", ""},
		{"loopback v4 range", `"listen":"127.0.0.53:9090"`, "", ""},
		{"loopback v6", `"listen":"[::1]:9090"`, "", ""},
		{"localhost", `"listen":"localhost:9090"`, "", ""},
		{"exposed with token", `"listen":":9090","api_token_env":"IW_TEST_API"`, "", ""},
		{"no listen", `"workers":1`, "", ""},
		{"token without listen", `"api_token_env":"IW_TEST_API"`, "api_token", `is set but "listen" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "c.json", "{"+tc.extra+","+in+"}", 0o600)
			_, warns := mustLoad(t, path)
			if tc.warnPath == "" {
				if len(warns) != 0 {
					t.Errorf("unexpected warnings: %q", warns)
				}
				return
			}
			if len(warns) != 1 || !strings.HasPrefix(warns[0], path+": "+tc.warnPath+": ") || !strings.Contains(warns[0], tc.warnText) {
				t.Errorf("warnings = %q, want one at %s containing %q", warns, tc.warnPath, tc.warnText)
			}
		})
	}
}

// TestServerSecretErrors: each problem is one *Error at its exact JSON path.
func TestServerSecretErrors(t *testing.T) {
	const base = `"base_url":"https://a.example","repositories":["r"]`
	for _, tc := range []struct{ name, body, path, msg string }{
		{"webhook env unset", `{"artifactory":[{` + base + `,"webhook_secret_env":"IW_TEST_UNSET_HOOK"}]}`, "artifactory[0].webhook_secret_env", "environment variable IW_TEST_UNSET_HOOK is not set: export it in the engine's environment, or use webhook_secret_file"},
		{"webhook file missing", `{"artifactory":[{` + base + `,"webhook_secret_file":"/nonexistent/iw/hook"}]}`, "artifactory[0].webhook_secret_file", "cannot read /nonexistent/iw/hook: no such file or directory"},
		{"webhook wrong type", `{"artifactory":[{` + base + `,"webhook_secret":true}]}`, "artifactory[0].webhook_secret", "must be a string, not a boolean"},
		{"webhook env empty name", `{"artifactory":[{` + base + `,"webhook_secret_env":""}]}`, "artifactory[0].webhook_secret_env", "is empty: name the environment variable"},
		{"webhook key typo", `{"artifactory":[{` + base + `,"webhook_secrt":"x"}]}`, "artifactory[0].webhook_secrt", `did you mean "webhook_secret"?`},
		{"api token env unset", `{"listen":"127.0.0.1:1","api_token_env":"IW_TEST_UNSET_API","artifactory":[{` + base + `}]}`, "api_token_env", "environment variable IW_TEST_UNSET_API is not set"},
		{"api token file missing", `{"listen":"127.0.0.1:1","api_token_file":"/nonexistent/iw/api","artifactory":[{` + base + `}]}`, "api_token_file", "cannot read /nonexistent/iw/api"},
		{"api token file empty", `{"listen":"127.0.0.1:1","api_token_file":"./empty","artifactory":[{` + base + `}]}`, "api_token_file", "is empty: write the secret into it"},
		{"api token wrong type", `{"listen":"127.0.0.1:1","api_token":12345,"artifactory":[{` + base + `}]}`, "api_token", "must be a string, not a number"},
		{"api token key typo", `{"api_tokn_env":"X","artifactory":[{` + base + `}]}`, "api_tokn_env", `did you mean "api_token_env"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "empty", "\n", 0o600)
			path := writeFile(t, dir, "c.json", tc.body, 0o600)
			_, _, err := Load(path)
			errs := Errors(err)
			if len(errs) != 1 {
				t.Fatalf("want exactly 1 error, got %v", err)
			}
			if errs[0].Path != tc.path || !strings.Contains(errs[0].Msg, tc.msg) {
				t.Errorf("error = %q at %q; want %q at %q", errs[0].Msg, errs[0].Path, tc.msg, tc.path)
			}
			if !strings.HasPrefix(err.Error(), path+": "+tc.path+": ") {
				t.Errorf("Error() = %q does not start with file and path", err)
			}
		})
	}
}

func TestServerSecretsNotInErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, secret string }{
		{"api token pasted into _env", `{"api_token_env":"s3cr3tApiT0kenPasted","artifactory":[{"base_url":"https://a.example","repositories":["r"]}]}`, "s3cr3tApiT0kenPasted"},
		{"webhook secret pasted into _file", `{"artifactory":[{"base_url":"https://a.example","repositories":["r"],"webhook_secret_file":"hookS3cretPasted"}]}`, "hookS3cretPasted"},
		{"api token of the wrong type", `{"api_token":987654321012,"artifactory":[{"base_url":"https://a.example","repositories":["r"]}]}`, "987654321012"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warns, err := Load(writeFile(t, t.TempDir(), "c.json", tc.body, 0o600))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if strings.Contains(err.Error(), tc.secret) || strings.Contains(strings.Join(warns, "\n"), tc.secret) {
				t.Errorf("the secret leaks: %v %q", err, warns)
			}
		})
	}
}

func TestServerSecretsNeverPrinted(t *testing.T) {
	const hook, api = "W3bh00kSecretValue", "Ap1T0kenSecretValue"
	t.Setenv("IW_TEST_HOOK", hook)
	dir := t.TempDir()
	writeFile(t, dir, "api", api+"\n", 0o600)
	path := writeFile(t, dir, "c.json", `{"listen":"127.0.0.1:9090","api_token_file":"./api",
	  "artifactory":[{"base_url":"https://a.example","repositories":["r"],"webhook_secret_env":"IW_TEST_HOOK"}]}`, 0o600)
	cfg, _ := mustLoad(t, path)
	if cfg.APIToken != api || cfg.Integrations[0].WebhookSecret != hook {
		t.Fatal("secrets not resolved")
	}
	values := map[string]any{"cfg": *cfg, "ptr": cfg, "integrations": cfg.Integrations, "integration": cfg.Integrations[0]}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			out := sprintf(verb, v)
			for _, s := range []string{hook, api} {
				if strings.Contains(out, s) || strings.Contains(out, hexOf(s)) {
					t.Errorf("%s printed with %s leaks %q: %s", name, verb, s, out)
				}
			}
		}
	}
	if out := sprintf("%+v", cfg); !strings.Contains(out, "APIToken:"+redacted) || !strings.Contains(out, "WebhookSecret:"+redacted) {
		t.Errorf("the redacted form should show that the secrets are set: %s", out)
	}
	for name, out := range map[string]string{"json": jsonOf(t, cfg), "hclog text": logOf("text", cfg), "hclog json": logOf("json", cfg)} {
		if strings.Contains(out, hook) || strings.Contains(out, api) {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s does not show the redaction marker: %s", name, out)
		}
	}
}

func TestFragmentWebhookSecret(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("IW_TEST_FRAG_HOOK", "frag-hook-env")
	writeFile(t, dir, "hook", "frag-hook-file\n", 0o600)
	writeFile(t, dir, "a.json", `{"name":"a","base_url":"https://a.example","repositories":["r"],"webhook_secret_env":"IW_TEST_FRAG_HOOK"}`, 0o600)
	writeFile(t, dir, "b.json", `{"name":"b","base_url":"https://b.example","repositories":["r"],"webhook_secret_file":"./hook"}`, 0o600)
	writeFile(t, dir, "c.json", `{"name":"c","base_url":"https://c.example","repositories":["r"],"webhook_secret":"frag-inline"}`, 0o644)
	writeFile(t, dir, "d.json", `{"name":"d","base_url":"https://d.example","repositories":["r"],"webhook_secret_env":"IW_TEST_UNSET_FRAG_HOOK"}`, 0o600)
	ins, warns, err := LoadDir(dir)
	if len(ins) != 3 {
		t.Fatalf("LoadDir = %d integrations, want the 3 good ones", len(ins))
	}
	for i, want := range []string{"frag-hook-env", "frag-hook-file", "frag-inline"} {
		if ins[i].WebhookSecret != want {
			t.Errorf("fragment %s: webhook secret not resolved", ins[i].Name)
		}
	}
	if !hasWarning(warns, filepath.Join(dir, "c.json"), "inline secrets (webhook_secret)") {
		t.Errorf("no permission warning naming the fragment's inline webhook_secret: %q", warns)
	}
	errs := Errors(err)
	if len(errs) != 1 || errs[0].File != filepath.Join(dir, "d.json") || errs[0].Path != "webhook_secret_env" {
		t.Errorf("bad fragment error = %v", err)
	}
}

func TestLoadWithoutSecrets(t *testing.T) {
	dir := t.TempDir()
	// Every reference points at something this process cannot resolve: it must not need to.
	path := writeFile(t, dir, "c.json", `{"listen":":9090","api_token_env":"IW_TEST_UNSET_API",
	  "artifactory":[{"base_url":"https://a.example","username":"u","password_file":"/nonexistent/pw","repositories":["r"],
	    "webhook_secret":"inline-hook"}],
	  "outputs":[{"type":"directory","path":"res"},{"type":"dependency_track","url":"https://dt.example","api_key_env":"IW_TEST_UNSET_DT"}]}`, 0o600)
	cfg, warns, err := Load(path, WithoutSecrets())
	if err != nil {
		t.Fatalf("Load(WithoutSecrets): %v", err)
	}
	if cfg.APIToken != "" || cfg.Integrations[0].Secret != "" || cfg.Integrations[0].WebhookSecret != "" || cfg.Outputs[1].APIKey != "" {
		t.Error("WithoutSecrets resolved a secret")
	}
	if cfg.Outputs[0].Path != filepath.Join(dir, "res") || cfg.State != filepath.Join(dir, "imagewatch.db") {
		t.Errorf("paths = %q, %q", cfg.Outputs[0].Path, cfg.State)
	}
	if hasWarning(warns, "no api_token is set") {
		t.Errorf("a token reference counts as a token: %q", warns)
	}
	// The same file without the option fails on each unresolvable reference.
	if _, _, err := Load(path); len(Errors(err)) != 3 {
		t.Errorf("Load without the option: %v, want 3 errors", err)
	}
	// References are still checked.
	bad := writeFile(t, dir, "bad.json", `{"api_token_env":"not a variable name","artifactory":[{"base_url":"https://a.example","repositories":["r"]}]}`, 0o600)
	if _, _, err := Load(bad, WithoutSecrets()); len(Errors(err)) != 1 || Errors(err)[0].Path != "api_token_env" {
		t.Errorf("bad reference with WithoutSecrets: %v", err)
	}
}
