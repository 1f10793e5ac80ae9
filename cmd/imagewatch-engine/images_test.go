package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// digestN is a distinct realistic digest per n (no shared prefix, so short digests differ).
func digestN(n int) string { return "sha256:" + hexN(n) }

func hexN(n int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

// inventoryFixture is an engine's state directory with a store filled through
// the store API the way the engine fills it, left open like a running engine's.
type inventoryFixture struct {
	dir, config, results string
	st                   *store.Store
}

func newInventoryFixture(t *testing.T) *inventoryFixture {
	t.Helper()
	dir := t.TempDir()
	f := &inventoryFixture{dir: dir, results: filepath.Join(dir, "results")}
	// The secrets are referenced but not set in this process: images must not need them.
	f.config = filepath.Join(dir, "config.json")
	if err := os.WriteFile(f.config, []byte(`{
	  "artifactory": [{"name": "prod", "base_url": "https://acme.jfrog.io", "username": "watcher",
	    "password_env": "IW_TEST_IMAGES_UNSET_PW", "webhook_secret_env": "IW_TEST_IMAGES_UNSET_HOOK",
	    "repositories": ["docker-local", "docker-prod"]}],
	  "api_token_env": "IW_TEST_IMAGES_UNSET_API", "listen": "127.0.0.1:9090",
	  "outputs": [{"type": "http", "url": "https://inventory.example/v1", "token_env": "IW_TEST_IMAGES_UNSET_TOKEN"},
	              {"type": "directory", "path": "results"}]
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(dir, "imagewatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f.st = st

	dirOut, err := output.NewDirectory(f.results)
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{dirOut.Name(), "http:https://inventory.example/v1"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tag := func(repo, image, tg string, d int, mt string) store.Tag {
		return store.Tag{Integration: "prod", Repository: repo, Image: image, Tag: tg, Digest: digestN(d), MediaType: mt,
			Reference: "acme.jfrog.io/" + repo + "/" + image + ":" + tg}
	}
	const manifest, index = artifactory.MediaTypeOCIManifest, artifactory.MediaTypeOCIIndex
	_, err = st.UpsertTags(ctx, []store.Tag{
		tag("docker-local", "team/app", "1.0", 1, manifest),
		tag("docker-local", "team/app", "latest", 1, manifest),
		tag("docker-local", "team/app", "1.1", 10, manifest),
		tag("docker-local", "team/multi", "2.0", 2, index),
		tag("docker-prod", "svc", "3.1", 5, index),
		tag("docker-prod", "broken", "0.1", 8, manifest),
		tag("docker-prod", "new", "0.2", 9, manifest), // discovered, no analysis yet
	})
	must(err)
	for d, mt := range map[int]string{1: manifest, 10: manifest, 2: index, 5: index, 8: manifest} {
		_, err := st.EnsureAnalysis(ctx, store.Analysis{Digest: digestN(d), MediaType: mt})
		must(err)
	}
	claimed, err := st.ClaimDue(ctx, time.Now(), 100)
	must(err)
	if len(claimed) != 5 {
		t.Fatalf("claimed %d analyses, want 5", len(claimed))
	}
	finish := func(d, packages int, platform string) {
		t.Helper()
		md := map[string]any{"digest": digestN(d), "package_count": packages}
		if osName, arch, ok := strings.Cut(platform, "/"); ok {
			md["platform"] = map[string]string{"os": osName, "architecture": arch}
		}
		doc, err := json.Marshal(md)
		must(err)
		must(st.Finish(ctx, digestN(d), store.Completion{Status: store.StatusDone, PackageCount: packages,
			Result: &store.Result{Metadata: doc, SBOMs: map[string][]byte{"cyclonedx-json": []byte(`{}`)}}, Outputs: outs}))
	}
	delivered := func(ds ...int) {
		t.Helper()
		for _, d := range ds {
			must(st.MarkDelivered(ctx, dirOut.Name(), digestN(d)))
		}
	}
	// A single-platform image: the store takes its platform from metadata.json.
	finish(1, 42, "linux/amd64")
	// Analysed, not yet delivered to the directory.
	finish(10, 43, "linux/amd64")
	// Indexes: their platforms become analyses of their own (EnsureAnalysis of
	// manifest 1 below is a no-op, as in the engine: it exists already).
	finish(2, 0, "")
	// Index 5 lists manifest 1, which is also tagged on its own (team/app) and
	// analysed already: the store records the membership all the same.
	doc, err := json.Marshal(map[string]any{"digest": digestN(5), "platforms": []map[string]any{
		{"digest": digestN(1), "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
		{"digest": digestN(7), "platform": map[string]string{"os": "linux", "architecture": "arm64"}},
	}})
	must(err)
	must(st.Finish(ctx, digestN(5), store.Completion{Status: store.StatusDone, Result: &store.Result{Metadata: doc}, Outputs: outs}))
	for d, p := range map[int][2]any{3: {2, "linux/amd64"}, 4: {2, "linux/arm64/v8"}, 1: {5, "linux/amd64"}, 7: {5, "linux/arm64"}} {
		_, err := st.EnsureAnalysis(ctx, store.Analysis{Digest: digestN(d), MediaType: manifest, Parent: digestN(p[0].(int)), Platform: p[1].(string)})
		must(err)
	}
	must(st.Fail(ctx, digestN(8), "manifest unknown: the tag was deleted", time.Time{}, true))
	claimed, err = st.ClaimDue(ctx, time.Now(), 100)
	must(err)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d platform analyses, want 3", len(claimed))
	}
	finish(3, 10, "")
	finish(7, 8, "")
	must(st.Fail(ctx, digestN(4), "registry answered 503", time.Now().Add(time.Hour), false)) // retry later
	delivered(1, 2, 3, 5, 7)
	return f
}

// tableRows runs images and returns its table, each row split into columns.
func tableRows(t *testing.T, args ...string) [][]string {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"images"}, args...)...)
	if code != exitOK {
		t.Fatalf("images %v: exit %d\nstderr:\n%s", args, code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if want := "REPOSITORY IMAGE TAG DIGEST PLATFORMS STATUS PACKAGES SBOM"; strings.Join(strings.Fields(lines[0]), " ") != want {
		t.Fatalf("header = %q, want the columns %s", lines[0], want)
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestImagesTable(t *testing.T) {
	f := newInventoryFixture(t)
	sbom := func(d int) string {
		return filepath.Join(f.results, "sha256", hexN(d)) + string(os.PathSeparator)
	}
	short := func(d int) string { return "sha256:" + hexN(d)[:12] }
	want := [][]string{
		{"docker-local", "team/app", "1.0", short(1), "linux/amd64", "done", "42", sbom(1)},
		{"docker-local", "team/app", "1.1", short(10), "linux/amd64", "done", "43", "-"}, // not delivered yet
		{"docker-local", "team/app", "latest", short(1), "linux/amd64", "done", "42", sbom(1)},
		// The index is resolved but one platform waits for a retry: the image is pending.
		{"docker-local", "team/multi", "2.0", short(2), "linux/amd64,linux/arm64/v8", "pending", "10", sbom(2)},
		{"docker-prod", "broken", "0.1", short(8), "-", "failed", "-", "-"},
		{"docker-prod", "new", "0.2", short(9), "-", "discovered", "-", "-"},
		{"docker-prod", "svc", "3.1", short(5), "linux/amd64,linux/arm64", "done", "50", sbom(5)},
	}
	got := tableRows(t, "--config", f.config)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("table =\n%s\nwant\n%s", strings.Join(joinRows(got), "\n"), strings.Join(joinRows(want), "\n"))
	}

	for _, tc := range []struct {
		args []string
		want []string // tags of the rows
	}{
		{[]string{"--repository", "docker-prod"}, []string{"0.1", "0.2", "3.1"}},
		{[]string{"--status", "failed"}, []string{"0.1"}},
		{[]string{"--status", "pending"}, []string{"2.0"}}, // by the image's status, not the index's own (done)
		{[]string{"--status", "done", "--repository", "docker-local"}, []string{"1.0", "1.1", "latest"}},
		{[]string{"--status", "discovered"}, []string{"0.2"}},
		{[]string{"--image", "team/app", "--status", "done"}, []string{"1.0", "1.1", "latest"}},
		{[]string{"--integration", "other"}, nil},
		{[]string{"--status", "running"}, nil},
	} {
		rows := tableRows(t, append([]string{"--config", f.config}, tc.args...)...)
		var tags []string
		for _, r := range rows {
			tags = append(tags, r[2])
		}
		if fmt.Sprint(tags) != fmt.Sprint(tc.want) {
			t.Errorf("%v: tags %v, want %v", tc.args, tags, tc.want)
		}
	}
}

func joinRows(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, " ")
	}
	return out
}

func TestImagesJSON(t *testing.T) {
	f := newInventoryFixture(t)
	code, stdout, stderr := runCLI(t, "images", "--config", f.config, "--json")
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d JSON lines, want 7:\n%s", len(lines), stdout)
	}
	rows := map[string]imageRow{}
	for _, l := range lines {
		var raw map[string]any
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("line is not one JSON object: %v\n%s", err, l)
		}
		for _, k := range []string{"integration", "repository", "image", "tag", "digest", "media_type", "reference", "status", "package_count", "platforms"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("line lacks %q: %s", k, l)
			}
		}
		var r imageRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows[r.Image+":"+r.Tag] = r
	}

	multi := rows["team/multi:2.0"]
	if multi.Digest != digestN(2) || multi.Status != "pending" || multi.PackageCount != 10 || len(multi.Platforms) != 2 || multi.AnalyzedAt == nil {
		t.Fatalf("multi-platform row = %+v", multi)
	}
	amd, arm := multi.Platforms[0], multi.Platforms[1]
	if amd.Platform != "linux/amd64" || amd.Digest != digestN(3) || amd.Status != "done" || amd.PackageCount != 10 ||
		amd.SBOMDir != filepath.Join(f.results, "sha256", hexN(3))+"/" {
		t.Errorf("amd64 platform = %+v", amd)
	}
	if want := filepath.Join(f.results, "sha256", hexN(3), "sbom.cdx.json"); amd.SBOMs["cyclonedx-json"] != want || len(amd.SBOMs) != 1 {
		t.Errorf("amd64 sboms = %v, want the delivered CycloneDX file %s", amd.SBOMs, want)
	}
	if arm.Platform != "linux/arm64/v8" || arm.Status != "pending" || arm.FailureReason != "registry answered 503" || arm.SBOMDir != "" {
		t.Errorf("arm64 platform = %+v", arm)
	}
	if b := rows["broken:0.1"]; b.Status != "failed" || b.FailureReason != "manifest unknown: the tag was deleted" || b.SBOMDir != "" || len(b.SBOMs) != 0 {
		t.Errorf("failed row = %+v", b)
	}
	if n := rows["new:0.2"]; n.Status != "discovered" || n.AnalyzedAt != nil || n.Reference != "acme.jfrog.io/docker-prod/new:0.2" {
		t.Errorf("discovered row = %+v", n)
	}
	if a := rows["team/app:1.0"]; len(a.Platforms) != 1 || a.Platforms[0].Platform != "linux/amd64" || a.Platforms[0].Digest != digestN(1) || a.PackageCount != 42 {
		t.Errorf("single-platform row = %+v", a)
	}

	// Filters apply to --json too.
	_, stdout, _ = runCLI(t, "images", "--config", f.config, "--json", "--status", "failed")
	if strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, `"tag":"0.1"`) {
		t.Errorf("--json --status failed =\n%s", stdout)
	}
}

// The command only reads: the running engine's store keeps working, and the
// listing sees what the engine wrote a moment ago.
func TestImagesWhileEngineRuns(t *testing.T) {
	f := newInventoryFixture(t)
	before := tableRows(t, "--config", f.config, "--repository", "docker-prod")
	if _, err := f.st.UpsertTag(t.Context(), store.Tag{Integration: "prod", Repository: "docker-prod", Image: "svc", Tag: "3.2",
		Digest: digestN(11), MediaType: artifactory.MediaTypeOCIManifest}); err != nil {
		t.Fatalf("the engine cannot write while images reads: %v", err)
	}
	after := tableRows(t, "--config", f.config, "--repository", "docker-prod")
	if len(after) != len(before)+1 || after[len(after)-1][2] != "3.2" || after[len(after)-1][5] != "discovered" {
		t.Errorf("new tag not listed: %v", joinRows(after))
	}
}

func TestImagesWithoutDirectoryOutput(t *testing.T) {
	f := newInventoryFixture(t)
	cfg := filepath.Join(f.dir, "http-only.json")
	if err := os.WriteFile(cfg, []byte(`{"integrations_dir": ".", "state": "imagewatch.db",
	  "outputs": [{"type": "http", "url": "https://inventory.example/v1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, r := range tableRows(t, "--config", cfg) {
		if r[7] != "-" {
			t.Errorf("SBOM column without a directory output: %v", r)
		}
	}
}

func TestImagesNoStoreYet(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"artifactory":[{"base_url":"https://a.example","repositories":["r"]}],"state":"state/iw.db"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state", "iw.db")
	code, stdout, stderr := runCLI(t, "images", "--config", cfg)
	if code != exitFailure || !strings.Contains(stderr, "no store at "+db+": run `imagewatch-engine run` first") || stdout != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Error("images created the store's directory: it must only read")
	}
}

func TestImagesUsageErrors(t *testing.T) {
	f := newInventoryFixture(t)
	bad := writeConfig(t, `{"artifactory":[{"base_url":"https://a.example","repositories":["r"]}],"outputs":[{"type":"directory"}]}`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"images"}, "--config is required"},
		{"bad config names the field", []string{"images", "--config", bad}, bad + ": outputs[0].path: is required"},
		{"unknown status", []string{"images", "--config", f.config, "--status", "analysed"}, `--status: "analysed" is not a status: use one of discovered, pending, running, done, skipped, failed`},
		{"bad repository key", []string{"images", "--config", f.config, "--repository", "docker/local"}, "--repository: "},
		{"unknown flag", []string{"images", "--config", f.config, "--tag", "1.0"}, "flag provided but not defined: -tag"},
		{"positional argument", []string{"images", "--config", f.config, "docker-local"}, `unexpected argument "docker-local"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d (want 2), stderr lacks %q?\n%s\nstdout:\n%s", code, tc.want, stderr, stdout)
			}
		})
	}
}

func TestImagesHelp(t *testing.T) {
	for _, args := range [][]string{{"images", "--help"}, {"help", "images"}} {
		code, stdout, _ := runCLI(t, args...)
		for _, w := range []string{"Usage: imagewatch-engine images --config FILE", "read-only", "-repository key", "-status status", "-json", "-image name", "-integration name", "SBOM", "Exit status"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: help lacks %q:\n%s", args, w, stdout)
			}
		}
		if code != exitOK {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	if _, stdout, _ := runCLI(t, "--help"); !strings.Contains(stdout, "images     list the discovered images") {
		t.Errorf("main help does not list images:\n%s", stdout)
	}
}

func TestImagesEmptyStore(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"artifactory":[{"base_url":"https://a.example","repositories":["r"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), filepath.Join(dir, "imagewatch.db")) // what a first `run` leaves behind
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	code, stdout, stderr := runCLI(t, "images", "--config", cfg)
	if code != exitOK || strings.Count(stdout, "\n") != 1 || !strings.Contains(stderr, "no images in "+filepath.Join(dir, "imagewatch.db")+" yet") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "images", "--config", cfg, "--status", "failed", "--json")
	if code != exitOK || stdout != "" || stderr != "" {
		t.Errorf("--json with no match: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "images", "--config", cfg, "--status", "failed")
	if code != exitOK || !strings.Contains(stderr, "no images match the filters") {
		t.Errorf("table with no match: exit %d, stderr %q", code, stderr)
	}
}
