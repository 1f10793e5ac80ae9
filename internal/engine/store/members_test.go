package store

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// platformsOf is index -> "digest platform status" of each listed manifest, in order.
func platformsOf(t *testing.T, s *Store, index string) []string {
	t.Helper()
	ps, err := s.Platforms(t.Context(), index)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		if p.Parent != index {
			t.Errorf("Platforms(%s): %s has Parent %q, want the index asked about", index, p.Digest, p.Parent)
		}
		out = append(out, p.Digest+" "+p.Platform+" "+p.Status)
	}
	return out
}

func mustEnsure(t *testing.T, s *Store, as ...Analysis) {
	t.Helper()
	for _, a := range as {
		if _, err := s.EnsureAnalysis(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func metadataDoc(t *testing.T, md map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// base:12 is analysed on its own first, then turns out to be the amd64 member
// of multi:1: the index must list it, and forcing the index must reset it.
func TestPlatformManifestAlsoTaggedOnItsOwn(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	ctx := t.Context()
	base, multi, arm := dgst(1), dgst(2), dgst(3)
	if _, err := s.UpsertTags(ctx, []Tag{
		{Integration: "prod", Repository: "docker-local", Image: "base", Tag: "12", Digest: base},
		{Integration: "prod", Repository: "docker-local", Image: "multi", Tag: "1", Digest: multi},
	}); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, s, Analysis{Digest: base}, Analysis{Digest: multi})
	if _, err := s.ClaimDue(ctx, time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	// The single image is finished first; its platform comes from its metadata.
	if err := s.Finish(ctx, base, Completion{Status: StatusDone, PackageCount: 7, Result: &Result{
		Metadata: metadataDoc(t, map[string]any{"digest": base, "platform": map[string]string{"os": "linux", "architecture": "amd64"}})}}); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := s.Get(ctx, base); a.Platform != "linux/amd64" || a.Parent != "" {
		t.Fatalf("single-platform image after Finish: %+v", a)
	}
	// The index is resolved: the engine records its members, base already exists.
	for _, a := range []Analysis{
		{Digest: base, Parent: multi, Platform: "linux/amd64"},
		{Digest: arm, Parent: multi, Platform: "linux/arm64/v8"},
	} {
		created, err := s.EnsureAnalysis(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if created != (a.Digest == arm) {
			t.Errorf("EnsureAnalysis(%s) created = %v", a.Digest, created)
		}
	}
	if err := s.Complete(ctx, multi, StatusDone, 0, ""); err != nil {
		t.Fatal(err)
	}
	want := []string{base + " linux/amd64 done", arm + " linux/arm64/v8 pending"}
	if got := platformsOf(t, s, multi); !reflect.DeepEqual(got, want) {
		t.Fatalf("Platforms(multi) = %v, want %v", got, want)
	}
	// The existing analysis is left alone: still done, still its own image.
	if a, _, _ := s.Get(ctx, base); a.Status != StatusDone || a.Parent != "" || a.PackageCount != 7 {
		t.Fatalf("base after being listed by an index: %+v", a)
	}
	if got, _ := s.IndexesOf(ctx, base); !reflect.DeepEqual(got, []string{multi}) {
		t.Errorf("IndexesOf(base) = %v", got)
	}
	tags, err := s.TagsForManifest(ctx, base)
	if err != nil || len(tags) != 2 || tags[0].Image != "base" || tags[1].Image != "multi" {
		t.Errorf("TagsForManifest(base) = %+v %v; want base:12 and multi:1", tags, err)
	}
	// List finds the member through the index's tags too.
	got, err := s.List(ctx, ListFilter{Image: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, a := range got {
		listed = append(listed, a.Digest)
	}
	if len(listed) != 3 {
		t.Errorf("List(image=multi) = %v, want the index and both members", listed)
	}

	// --force on the index re-analyses every member, the shared one included.
	if err := s.ResetAnalysis(ctx, multi); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{multi, base, arm} {
		if a, _, _ := s.Get(ctx, d); a.Status != StatusPending {
			t.Errorf("%s after ResetAnalysis(index) = %s, want pending", d, a.Status)
		}
	}
}

// One manifest listed by two indexes (app:1 and app:latest built separately
// with a common amd64 image): both indexes list it.
func TestTwoIndexesShareAPlatformManifest(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	ctx := t.Context()
	idx1, idx2, shared, arm1, arm2 := dgst(10), dgst(20), dgst(1), dgst(11), dgst(21)
	mustEnsure(t, s,
		Analysis{Digest: idx1, Status: StatusDone},
		Analysis{Digest: idx2, Status: StatusDone},
		Analysis{Digest: shared, Parent: idx1, Platform: "linux/amd64"},
		Analysis{Digest: arm1, Parent: idx1, Platform: "linux/arm64"},
		Analysis{Digest: shared, Parent: idx2, Platform: "linux/amd64"},
		Analysis{Digest: arm2, Parent: idx2, Platform: "linux/arm/v7"},
	)
	if err := s.Complete(ctx, shared, StatusDone, 12, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := platformsOf(t, s, idx1), []string{shared + " linux/amd64 done", arm1 + " linux/arm64 pending"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Platforms(idx1) = %v, want %v", got, want)
	}
	if got, want := platformsOf(t, s, idx2), []string{shared + " linux/amd64 done", arm2 + " linux/arm/v7 pending"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Platforms(idx2) = %v, want %v", got, want)
	}
	if got, _ := s.IndexesOf(ctx, shared); !reflect.DeepEqual(got, []string{idx1, idx2}) {
		t.Errorf("IndexesOf(shared) = %v", got)
	}
	// Re-recording a membership is idempotent and does not touch the analysis.
	created, err := s.EnsureAnalysis(ctx, Analysis{Digest: shared, Parent: idx2, Platform: "linux/amd64"})
	if err != nil || created {
		t.Fatalf("re-ensure: created=%v err=%v", created, err)
	}
	if a, _, _ := s.Get(ctx, shared); a.Status != StatusDone || a.Parent != idx1 {
		t.Errorf("shared after re-ensure: %+v", a)
	}
	if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: idx1, Parent: idx1}); err == nil {
		t.Error("an index listed as its own member was accepted")
	}
	// Resetting one index leaves the other index's own members alone.
	if err := s.ResetAnalysis(ctx, idx2); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := s.Get(ctx, idx1); a.Status != StatusDone {
		t.Errorf("idx1 after resetting idx2: %s", a.Status)
	}
	if a, _, _ := s.Get(ctx, shared); a.Status != StatusPending {
		t.Errorf("shared member after resetting idx2: %s", a.Status)
	}
}

func TestFinishPlatformAndMetadata(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	ctx := t.Context()
	withVariant, explicit, member, noPlatform := dgst(1), dgst(2), dgst(3), dgst(4)
	mustEnsure(t, s, Analysis{Digest: withVariant}, Analysis{Digest: explicit}, Analysis{Digest: noPlatform},
		Analysis{Digest: member, Parent: dgst(9), Platform: "linux/arm64/v8"})
	sbom := map[string][]byte{"cyclonedx-json": []byte(`{"big":"document"}`)}
	finish := func(d string, c Completion) {
		t.Helper()
		c.Status = StatusDone
		if err := s.Finish(ctx, d, c); err != nil {
			t.Fatal(err)
		}
	}
	finish(withVariant, Completion{Result: &Result{SBOMs: sbom, Metadata: metadataDoc(t, map[string]any{
		"digest": withVariant, "platform": map[string]string{"os": "linux", "architecture": "arm", "variant": "v7"}})}})
	finish(explicit, Completion{Platform: "windows/amd64", Result: &Result{Metadata: metadataDoc(t, map[string]any{
		"digest": explicit, "platform": map[string]string{"os": "linux", "architecture": "amd64"}})}})
	// The index's listing wins over the config's platform (it carries the variant).
	finish(member, Completion{Result: &Result{Metadata: metadataDoc(t, map[string]any{
		"digest": member, "platform": map[string]string{"os": "linux", "architecture": "arm64"}})}})
	finish(noPlatform, Completion{Result: &Result{Metadata: []byte(`{"digest":"x","platform":{"os":"","architecture":""}}`)}})
	for d, want := range map[string]string{withVariant: "linux/arm/v7", explicit: "windows/amd64", member: "linux/arm64/v8", noPlatform: ""} {
		if a, _, _ := s.Get(ctx, d); a.Platform != want {
			t.Errorf("%s platform = %q, want %q", d, a.Platform, want)
		}
	}

	md, ok, err := s.Metadata(ctx, withVariant)
	if err != nil || !ok || !json.Valid(md) || string(md) == "" {
		t.Fatalf("Metadata = %q %v %v", md, ok, err)
	}
	if _, ok, err := s.Metadata(ctx, dgst(99)); ok || err != nil {
		t.Fatalf("Metadata of an unknown digest: ok=%v err=%v", ok, err)
	}
}

// A version 1 database with data (the shared-member case the parent column
// could not hold) is migrated: every membership and single platform recovered.
func TestMigrateVersion1Database(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	ctx := t.Context()
	db, err := sql.Open("sqlite", dsn(path, time.Second, false))
	if err != nil {
		t.Fatal(err)
	}
	base, multi, arm, other, bad := dgst(1), dgst(2), dgst(3), dgst(4), dgst(5)
	indexDoc := metadataDoc(t, map[string]any{"digest": multi, "platform": map[string]string{"os": "", "architecture": ""}, "platforms": []map[string]any{
		{"digest": base, "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
		{"digest": arm, "platform": map[string]string{"os": "linux", "architecture": "arm64", "variant": "v8"}},
		{"digest": dgst(77), "platform": map[string]string{"os": "linux", "architecture": "s390x"}}, // never recorded
	}})
	baseDoc := metadataDoc(t, map[string]any{"digest": base, "platform": map[string]string{"os": "linux", "architecture": "amd64"}})
	otherDoc := metadataDoc(t, map[string]any{"digest": other, "platforms": "not a list"})
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{createMigrationsTable, nil},
		{migrations[0], nil},
		{`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`, nil},
		{`INSERT INTO tags (integration, repository, image, tag, digest, first_seen, last_seen) VALUES
			('prod', 'docker-local', 'base', '12', ?, 0, 0), ('prod', 'docker-local', 'multi', '1', ?, 0, 0)`, []any{base, multi}},
		// base was analysed on its own first: version 1 linked it to no index.
		{`INSERT INTO analyses (digest, parent, platform, status, package_count, created_at, updated_at) VALUES
			(?, '', '', 'done', 7, 0, 0), (?, '', '', 'done', 0, 0, 0), (?, ?, 'linux/arm64/v8', 'done', 9, 0, 0),
			(?, '', '', 'done', 0, 0, 0), (?, '', '', 'done', 0, 0, 0)`, []any{base, multi, arm, multi, other, bad}},
		{`INSERT INTO results (digest, metadata, created_at) VALUES (?, ?, 0), (?, ?, 0), (?, ?, 0), (?, ?, 0)`,
			[]any{base, baseDoc, multi, indexDoc, other, otherDoc, bad, []byte(`{not json`)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("build version 1 database: %v\n%s", err, q.sql)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("schema version after migration = %d %v, want %d", v, err, len(migrations))
	}
	want := []string{base + " linux/amd64 done", arm + " linux/arm64/v8 done"}
	if got := platformsOf(t, s, multi); !reflect.DeepEqual(got, want) {
		t.Fatalf("Platforms(multi) after migration = %v, want %v", got, want)
	}
	for d, p := range map[string]string{base: "linux/amd64", multi: "", other: "", bad: ""} {
		if a, _, _ := s.Get(ctx, d); a.Platform != p {
			t.Errorf("%s platform after migration = %q, want %q", d, a.Platform, p)
		}
	}
	if err := s.ResetAnalysis(ctx, multi); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := s.Get(ctx, base); a.Status != StatusPending {
		t.Errorf("shared member not reset with its index after migration: %s", a.Status)
	}
}
