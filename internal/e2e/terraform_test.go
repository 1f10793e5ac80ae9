package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/tftest"
)

// mainTF provisions the engine (listening, polling every second) and two
// integrations, each on its own Artifactory so the requests each one causes
// can be counted apart. with_beta removes the second; alpha_tags is alpha's
// tag filter; read_inventory reads the engine's inventory through the data source.
const mainTF = `terraform {
  required_providers {
    imagewatch = { source = "imagewatch/imagewatch" }
  }
}

provider "imagewatch" {}

variable "dir" { type = string }
variable "listen" { type = string }
variable "alpha_url" { type = string }
variable "beta_url" { type = string }
variable "alpha_token" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "beta_token" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "alpha_tags" { type = string }
variable "with_beta" {
  type    = bool
  default = true
}
variable "read_inventory" {
  type    = bool
  default = false
}
variable "api_token" {
  type      = string
  sensitive = true
}

resource "imagewatch_engine_config" "this" {
  path             = "${var.dir}/config.json"
  agent_id         = "e2e"
  integrations_dir = "${var.dir}/integrations.d"
  state            = "${var.dir}/imagewatch.db"
  outputs          = [{ type = "directory", path = "${var.dir}/results" }]
  sbom_formats     = ["cyclonedx-json"]
  poll_interval    = "1s"
  workers          = 2
  listen           = var.listen
  api_token_env    = "E2E_API_TOKEN"
}

resource "imagewatch_artifactory_integration" "alpha" {
  name                    = "alpha"
  engine_config_dir       = imagewatch_engine_config.this.integrations_dir
  url                     = var.alpha_url
  access_token_wo         = var.alpha_token
  access_token_wo_version = 1
  repository_keys         = ["docker-local"]
  image_filters           = [{ repository = "docker-local", images = ["team/**"], exclude = [], tags = var.alpha_tags }]
}

resource "imagewatch_artifactory_integration" "beta" {
  count                   = var.with_beta ? 1 : 0
  name                    = "beta"
  engine_config_dir       = imagewatch_engine_config.this.integrations_dir
  url                     = var.beta_url
  access_token_wo         = var.beta_token
  access_token_wo_version = 1
  repository_keys         = ["docker-local"]
}

data "imagewatch_engine_images" "done" {
  count      = var.read_inventory ? 1 : 0
  engine_url = "http://${var.listen}"
  token      = var.api_token
  status     = "done"
}

output "inventory" {
  value = [for i in flatten(data.imagewatch_engine_images.done[*].images) : {
    ref           = "${i.integration}:${i.repository}/${i.image}:${i.tag}"
    digest        = i.digest
    status        = i.status
    package_count = i.package_count
    sbom          = lookup(i.sboms, "cyclonedx-json", "")
  }]
}
`

// TestTerraformDrivesEngine is a user's day through the real Terraform CLI and
// the real engine binary: apply two integrations and the engine analyses their
// images; remove one and the engine stops polling it without a restart while
// its results stay; change a filter and the engine follows; the
// imagewatch_engine_images data source lists what was analysed.
func TestTerraformDrivesEngine(t *testing.T) {
	tf := tftest.Terraform(t)
	env := tftest.DevOverridesEnv(t, tftest.BuildProvider(t))
	alpha, alphaToken := newArtifactory(t)
	beta, betaToken := newArtifactory(t)

	work, engineDir, listen := t.TempDir(), t.TempDir(), freeAddr(t)
	writeFile(t, filepath.Join(work, "main.tf"), []byte(mainTF))
	const apiToken = "e2e-inventory-token"
	env = append(slices.Clip(env),
		"TF_VAR_dir="+engineDir, "TF_VAR_listen="+listen,
		"TF_VAR_alpha_url="+alpha.URL(), "TF_VAR_alpha_token="+alphaToken,
		"TF_VAR_beta_url="+beta.URL(), "TF_VAR_beta_token="+betaToken,
		"TF_VAR_api_token="+apiToken,
	)
	apply := func(vars ...string) []byte {
		t.Helper()
		args := []string{"apply", "-auto-approve", "-input=false", "-no-color"}
		for _, v := range vars {
			args = append(args, "-var", v)
		}
		if _, stderr, err := tftest.Run(t, tf, env, work, args...); err != nil {
			t.Fatalf("terraform apply %v: %v\n%s", vars, err, stderr)
		}
		stdout, stderr, err := tftest.Run(t, tf, env, work, "output", "-json", "inventory")
		if err != nil {
			t.Fatalf("terraform output: %v\n%s", err, stderr)
		}
		return stdout
	}

	// 1. Two integrations; the engine analyses what is pushed to either.
	apply("alpha_tags=^v")
	eng := startEngine(t, filepath.Join(engineDir, "config.json"), listen, []string{"E2E_API_TOKEN=" + apiToken})
	waitFirstPoll(t, eng, "alpha")
	waitFirstPoll(t, eng, "beta")
	apiDigest := push(t, alpha, "team/api", "v1")
	webDigest := push(t, beta, "team/web", "v1")
	waitAnalysed(t, eng, apiToken, "alpha", "team/api", "v1", apiDigest, 60*time.Second)
	web := waitAnalysed(t, eng, apiToken, "beta", "team/web", "v1", webDigest, 60*time.Second)

	// 2. Remove beta: the engine stops polling it, without a restart, and keeps its results.
	apply("alpha_tags=^v", "with_beta=false")
	if _, err := os.Stat(filepath.Join(engineDir, "integrations.d", "beta.json")); !os.IsNotExist(err) {
		t.Fatalf("beta's engine file is still there after its destroy (stat: %v)", err)
	}
	waitFor(t, eng, 15*time.Second, "the engine drops beta", func() (bool, string) {
		return eng.log.hasLine("integration removed", "integration=beta"), "no \"integration removed\" log line for beta"
	})
	betaRequests := beta.Requests()
	waitPolls(t, eng, "alpha", 3, 20*time.Second) // three more poll cycles
	if got := beta.Requests(); got["aql"] != betaRequests["aql"] || total(got) != total(betaRequests) {
		t.Errorf("the engine still calls beta's Artifactory after beta was removed: %v -> %v", betaRequests, got)
	}
	if eng.hasSeries("imagewatch_polls_total", map[string]string{"integration": "beta"}) {
		t.Error("/metrics still has polls_total for the removed integration beta")
	}
	if r, ok := row(eng.images("integration=beta", apiToken), "beta", "team/web", "v1"); !ok || r.Status != "done" || r.Digest != webDigest {
		t.Errorf("beta's analysed image left the inventory after beta was removed: %+v (found %v)", r, ok)
	}
	if _, err := os.Stat(web.SBOMs["cyclonedx-json"]); err != nil {
		t.Errorf("beta's SBOM is gone after beta was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(engineDir, "results", "sha256", webDigest[len("sha256:"):], "metadata.json")); err != nil {
		t.Errorf("beta's metadata.json is gone after beta was removed: %v", err)
	}

	// 3. Change alpha's tag filter: a tag only the new filter matches is analysed.
	rc0 := push(t, alpha, "team/api", "rc0") // before the change: filtered out
	waitPolls(t, eng, "alpha", 2, 20*time.Second)
	if r, ok := row(eng.images("integration=alpha", apiToken), "alpha", "team/api", "rc0"); ok && r.Status != "discovered" {
		t.Errorf("team/api:rc0 (%s) is %s under the filter ^v; it must not be analysed", rc0, r.Status)
	}
	apply("alpha_tags=^(v|rc)", "with_beta=false")
	waitFor(t, eng, 15*time.Second, "the engine reloads alpha", func() (bool, string) {
		return eng.log.hasLine("integration changed; reloaded", "integration=alpha"), "no \"integration changed\" log line for alpha"
	})
	rcDigest := push(t, alpha, "team/api", "rc1")
	waitAnalysed(t, eng, apiToken, "alpha", "team/api", "rc1", rcDigest, 60*time.Second)

	// 4. The data source lists what the engine analysed.
	var inventory []struct {
		Ref          string `json:"ref"`
		Digest       string `json:"digest"`
		Status       string `json:"status"`
		PackageCount int    `json:"package_count"`
		SBOM         string `json:"sbom"`
	}
	out := apply("alpha_tags=^(v|rc)", "with_beta=false", "read_inventory=true")
	if err := json.Unmarshal(out, &inventory); err != nil {
		t.Fatalf("output inventory: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, i := range inventory {
		got[i.Ref] = i.Digest
		if i.Status != "done" || i.PackageCount == 0 || i.SBOM == "" {
			t.Errorf("data source row %+v: want status done, packages and an SBOM location", i)
		}
	}
	want := map[string]string{
		"alpha:docker-local/team/api:v1":  apiDigest,
		"beta:docker-local/team/web:v1":   webDigest,
		"alpha:docker-local/team/api:rc1": rcDigest,
	}
	for ref, digest := range want {
		if got[ref] != digest {
			t.Errorf("data source: %s = %q, want %s (all: %v)", ref, got[ref], digest, got)
		}
	}
	// rc0 was pushed inside the overlap window that every poll re-reads, so the
	// widened filter may pick it up too; nothing else may appear.
	for ref := range got {
		if _, ok := want[ref]; !ok && ref != "alpha:docker-local/team/api:rc0" {
			t.Errorf("data source lists %s, which no filter selects (all: %v)", ref, got)
		}
	}
	state, err := os.ReadFile(filepath.Join(work, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{alphaToken, betaToken} {
		if bytes.Contains(state, []byte(secret)) {
			t.Error("an Artifactory token is in terraform.tfstate")
		}
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
