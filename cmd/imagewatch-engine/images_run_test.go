package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

// The real engine analyses real images pushed to the double; images then lists
// them from the store it left, with SBOM folders that exist on disk.
func TestImagesAfterRealRun(t *testing.T) {
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local"})
	name, pw := srv.AdminUser()
	t.Setenv("IW_TEST_IMAGES_RUN_PW", pw)

	amd, err := testimages.DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	arm, err := testimages.DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := testimages.MultiPlatform(map[string]v1.Image{"linux/amd64": amd, "linux/arm64/v8": arm})
	if err != nil {
		t.Fatal(err)
	}
	single, err := srv.PushImage(t.Context(), "docker-local", "base", "12", amd)
	if err != nil {
		t.Fatal(err)
	}
	multi, err := srv.PushIndex(t.Context(), "docker-local", "multi", "1", idx)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	body := fmt.Sprintf(`{"artifactory":[{"name":"prod","base_url":%q,"username":%q,"password_env":"IW_TEST_IMAGES_RUN_PW","repositories":["docker-local"]}],"workers":2}`, srv.URL(), name)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "run", "--config", cfg, "--backfill-from=2000-01-01"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}

	code, stdout, stderr := runCLI(t, "images", "--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("images: exit %d\n%s", code, stderr)
	}
	rows := map[string]imageRow{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r imageRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		rows[r.Image+":"+r.Tag] = r
	}
	results := filepath.Join(dir, "results") // the default directory output
	hasSBOM := func(what, folder, digest string) {
		t.Helper()
		if want := filepath.Join(results, "sha256", strings.TrimPrefix(digest, "sha256:")) + "/"; folder != want {
			t.Errorf("%s: sbom_dir = %q, want %q", what, folder, want)
			return
		}
		if _, err := os.Stat(filepath.Join(folder, "metadata.json")); err != nil {
			t.Errorf("%s: the listed folder has no metadata.json: %v", what, err)
		}
		if _, err := os.Stat(filepath.Join(folder, "sbom.cdx.json")); err != nil {
			t.Errorf("%s: the listed folder has no CycloneDX SBOM: %v", what, err)
		}
	}

	b := rows["base:12"]
	if b.Digest != single || b.Status != "done" || b.PackageCount == 0 || len(b.Platforms) != 1 || b.Platforms[0].Platform != "linux/amd64" {
		t.Errorf("base:12 = %+v", b)
	}
	hasSBOM("base:12", b.SBOMDir, single)

	m := rows["multi:1"]
	if m.Digest != multi || m.Status != "done" || len(m.Platforms) != 2 || m.PackageCount != m.Platforms[0].PackageCount+m.Platforms[1].PackageCount || m.PackageCount == 0 {
		t.Fatalf("multi:1 = %+v", m)
	}
	for i, want := range []string{"linux/amd64", "linux/arm64/v8"} {
		p := m.Platforms[i]
		if p.Platform != want || p.Status != "done" {
			t.Errorf("multi:1 platform %d = %+v, want %s done", i, p, want)
		}
		hasSBOM("multi:1 "+want, p.SBOMDir, p.Digest)
	}

	rowsTable := tableRows(t, "--config", cfg, "--repository", "docker-local")
	if len(rowsTable) != 2 || rowsTable[0][1] != "base" || rowsTable[0][5] != "done" || rowsTable[1][4] != "linux/amd64,linux/arm64/v8" {
		t.Errorf("table:\n%s", strings.Join(joinRows(rowsTable), "\n"))
	}
}
