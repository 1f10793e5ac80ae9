package examples

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/tftest"
)

// TestQuickstartApply applies examples/quickstart unchanged, with the real CLI and the built
// provider, against the in-process Artifactory double: the integration passes its Test Connection
// check, the data source lists exactly the tags pushed (filters applied), and the token, passed
// only through an ephemeral variable and a write-only attribute, is nowhere in the state.
func TestQuickstartApply(t *testing.T) {
	tf := tftest.Terraform(t)
	env := tftest.DevOverridesEnv(t, tftest.BuildProvider(t))

	srv := artifactorytest.NewTest(t)
	for _, key := range []string{"docker-local", "docker-prod"} {
		srv.AddRepository(artifactorytest.Repository{Key: key, Class: "local", PackageType: "docker"})
	}
	srv.AddRepository(artifactorytest.Repository{Key: "helm-local", Class: "local", PackageType: "helm"})
	admin, _ := srv.AdminUser()
	token := srv.IssueToken(admin, time.Hour)

	// Three tags match the quickstart filter below (images "team-a/**", tags "^v"); two do not.
	want := map[string]string{}
	push := func(key, image, tag string, match bool) {
		t.Helper()
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		digest, err := srv.PushImage(t.Context(), key, image, tag, img)
		if err != nil {
			t.Fatal(err)
		}
		if match {
			want[key+"/"+image+":"+tag] = digest
		}
	}
	push("docker-local", "team-a/api", "v1.0.0", true)
	push("docker-local", "team-a/api", "latest", false)
	push("docker-local", "team-a/web", "v2.1.0", true)
	push("docker-prod", "team-a/api", "v1.0.0", true)
	push("docker-prod", "team-b/batch", "v1.0.0", false)

	work := stageExample(t, "quickstart")
	env = append(slices.Clip(env),
		"TF_VAR_artifactory_url="+srv.URL(),
		"TF_VAR_access_token="+token,
		"TF_VAR_repository_keys=docker-local; docker-prod",
		`TF_VAR_image_globs=["team-a/**"]`,
		"TF_VAR_tag_regex=^v",
	)

	if _, stderr, err := tftest.Run(t, tf, env, work, "apply", "-auto-approve", "-input=false", "-no-color"); err != nil {
		t.Fatalf("terraform apply: %v\n%s", err, stderr)
	}

	stdout, stderr, err := tftest.Run(t, tf, env, work, "output", "-json")
	if err != nil {
		t.Fatalf("terraform output: %v\n%s", err, stderr)
	}
	var outputs struct {
		RegistryHost struct{ Value string } `json:"registry_host"`
		Repositories struct {
			Value []struct {
				Key         string `json:"key"`
				PackageType string `json:"package_type"`
			}
		} `json:"repositories"`
		Images struct{ Value map[string]string } `json:"images"`
	}
	if err := json.Unmarshal(stdout, &outputs); err != nil {
		t.Fatalf("terraform output: %v\n%s", err, stdout)
	}
	if outputs.RegistryHost.Value != srv.RegistryHost() {
		t.Errorf("registry_host = %q, want %q", outputs.RegistryHost.Value, srv.RegistryHost())
	}
	var keys []string
	for _, r := range outputs.Repositories.Value {
		keys = append(keys, r.Key)
		if r.PackageType != "docker" {
			t.Errorf("repository %s: package_type = %q, want docker", r.Key, r.PackageType)
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"docker-local", "docker-prod"}) {
		t.Errorf("repositories = %v, want [docker-local docker-prod]", keys)
	}
	got := map[string]string{}
	for ref, v := range outputs.Images.Value {
		got[ref], _, _ = strings.Cut(v, " ") // "<digest> (single platform)"
	}
	if !maps.Equal(got, want) {
		t.Errorf("images output:\n got  %v\n want %v", got, want)
	}

	state, err := os.ReadFile(filepath.Join(work, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), token) {
		t.Error("the access token is in terraform.tfstate; it must only travel write-only/ephemeral")
	}

	// The engine's configuration, through the engine's own loader: the main file, and the
	// integration file carrying the token that state does not.
	engineDir := filepath.Join(work, "imagewatch-engine")
	cfg, _, err := config.Load(filepath.Join(engineDir, "config.json"))
	if err != nil {
		t.Fatalf("the engine cannot load the provisioned config: %v", err)
	}
	integrations, _, err := cfg.AllIntegrations()
	if err != nil {
		t.Fatalf("the engine cannot load the provisioned integrations: %v", err)
	}
	if len(integrations) != 1 || integrations[0].Name != "quickstart" || integrations[0].Secret != token ||
		!slices.Equal(integrations[0].Repositories, []string{"docker-local", "docker-prod"}) {
		t.Errorf("provisioned integrations: %+v (want one, quickstart, with the token and both keys)", integrations)
	}
	if cfg.Outputs[0].Path != filepath.Join(engineDir, "results") {
		t.Errorf("outputs = %+v", cfg.Outputs)
	}

	if _, stderr, err := tftest.Run(t, tf, env, work, "destroy", "-auto-approve", "-input=false", "-no-color"); err != nil {
		t.Fatalf("terraform destroy: %v\n%s", err, stderr)
	}
	for _, p := range []string{filepath.Join(engineDir, "config.json"), filepath.Join(engineDir, "integrations.d", "quickstart.json")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("destroy left %s (stat: %v)", p, err)
		}
	}
}
