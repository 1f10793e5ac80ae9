package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.AddRepository(artifactorytest.Repository{Key: "generic-local", Class: "local", PackageType: "generic"})
	f.srv.Grant(testUser, "generic-local")

	var out bytes.Buffer
	ok, err := Validate(context.Background(), f.cfg, &out)
	if err != nil || !ok {
		t.Fatalf("good configuration: ok=%v err=%v\n%s", ok, err, out.String())
	}
	for _, want := range []string{"docker-local", "docker-prod", "OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	f.cfg.Integrations[0].Repositories = []string{"docker-local", "missing-repo", "generic-local"}
	out.Reset()
	ok, err = Validate(context.Background(), f.cfg, &out)
	if err != nil || ok {
		t.Fatalf("failing repositories: ok=%v err=%v, want ok=false\n%s", ok, err, out.String())
	}
	report := out.String()
	for _, want := range []string{"missing-repo", "not_found", "generic-local", "not_docker", "repository access failed for: [missing-repo, generic-local]"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}

	bad := *f.cfg
	bad.Integrations = []config.Integration{f.cfg.Integrations[0]}
	bad.Integrations[0].Secret = "wrong-password"
	bad.Integrations[0].Repositories = []string{"docker-local"}
	out.Reset()
	ok, err = Validate(context.Background(), &bad, &out)
	if err != nil || ok {
		t.Fatalf("bad credentials: ok=%v err=%v\n%s", ok, err, out.String())
	}
	if !strings.Contains(out.String(), "authentication failed: invalid credentials or insufficient permissions") {
		t.Errorf("report lacks the authentication failure:\n%s", out.String())
	}
	if strings.Contains(out.String(), "wrong-password") || strings.Contains(out.String(), testPassword) {
		t.Errorf("report leaks a secret:\n%s", out.String())
	}
}
