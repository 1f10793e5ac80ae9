package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func openTest(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dgst(n int) string { return fmt.Sprintf("sha256:%064x", n) }

func TestOpenCreatesOwnerOnlyFilesAndMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "imagewatch.db")
	s := openTest(t, path)

	v, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) || v < 1 {
		t.Fatalf("schema version = %d, want %d", v, len(migrations))
	}
	// Force the WAL and SHM files into existence with a write.
	if err := s.SaveCursor(t.Context(), "prod", Cursor{Modified: time.UnixMilli(1)}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	var mode string
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
	}
	var fk int
	if err := s.r.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys on readers = %d (%v), want 1", fk, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: no migration runs again, data survives.
	s2 := openTest(t, path)
	var rows int
	if err := s2.r.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) {
		t.Fatalf("schema_migrations rows after reopen = %d, want %d", rows, len(migrations))
	}
	if _, ok, err := s2.Cursor(t.Context(), "prod"); err != nil || !ok {
		t.Fatalf("cursor after reopen: ok=%v err=%v", ok, err)
	}
}

func TestOpenTightensExistingWorldReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	openTest(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenRefusesSecondProcessAndNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	s := openTest(t, path)
	if _, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "in use by another imagewatch-engine") {
		t.Fatalf("second Open: err = %v, want in-use error", err)
	}
	// A newer binary migrated the file.
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary supports") {
		t.Fatalf("Open of newer schema: err = %v", err)
	}
	// The failed Open released its lock.
	if _, err := Open(t.Context(), path); err == nil || strings.Contains(err.Error(), "in use") {
		t.Fatalf("after failed Open the lock should be free, got %v", err)
	}
}

func TestReadOnlyOpenSeesWritesAndCannotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	s := openTest(t, path)
	ro, err := OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := s.EnsureAnalysis(t.Context(), Analysis{Digest: dgst(1)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ro.Get(t.Context(), dgst(1)); err != nil || !ok {
		t.Fatalf("read-only Get: ok=%v err=%v", ok, err)
	}
	if _, err := ro.EnsureAnalysis(t.Context(), Analysis{Digest: dgst(2)}); err == nil {
		t.Fatal("write through a read-only store succeeded")
	}
	if _, err := OpenReadOnly(t.Context(), filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Fatal("OpenReadOnly of a missing file succeeded")
	}
}

func TestCursorPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	s := openTest(t, path)
	ctx := t.Context()
	if _, ok, err := s.Cursor(ctx, "prod"); err != nil || ok {
		t.Fatalf("cursor before save: ok=%v err=%v", ok, err)
	}
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Cursor{Modified: time.Date(2026, 2, 3, 4, 5, 6, 789_000_000, time.UTC), Seen: []string{"docker-local/app/1.0", "docker-local/app/1.1"}, Started: started}
	if err := s.SaveCursor(ctx, "prod", want); err != nil {
		t.Fatal(err)
	}
	// Advancing without Started keeps the first start.
	want.Modified = want.Modified.Add(time.Second)
	want.Seen = []string{"docker-local/app/2.0"}
	if err := s.SaveCursor(ctx, "prod", Cursor{Modified: want.Modified, Seen: want.Seen}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	got, ok, err := s.Cursor(ctx, "prod")
	if err != nil || !ok {
		t.Fatalf("cursor after reopen: ok=%v err=%v", ok, err)
	}
	if !got.Modified.Equal(want.Modified) || !got.Started.Equal(want.Started) || !reflect.DeepEqual(got.Seen, want.Seen) {
		t.Fatalf("cursor = %+v, want %+v", got, want)
	}
	if got.Modified.Location() != time.UTC {
		t.Errorf("cursor time not UTC: %v", got.Modified.Location())
	}
}

func TestUpsertTagChangedFlag(t *testing.T) {
	clk := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"), WithClock(clk.now))
	ctx := t.Context()
	tag := Tag{Integration: "prod", Repository: "docker-local", Image: "team/app", Tag: "1.0", Digest: dgst(1),
		MediaType: "application/vnd.oci.image.manifest.v1+json", Reference: "host/docker-local/team/app:1.0", Modified: clk.now()}

	steps := []struct {
		name    string
		digest  string
		changed bool
	}{
		{"new tag", dgst(1), true},
		{"same digest again", dgst(1), false},
		{"digest moved", dgst(2), true},
		{"moved digest seen again", dgst(2), false},
	}
	for _, st := range steps {
		clk.add(time.Minute)
		tag.Digest = st.digest
		changed, err := s.UpsertTag(ctx, tag)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.changed {
			t.Fatalf("%s: changed = %v, want %v", st.name, changed, st.changed)
		}
	}
	// The same tag name in another repository is a different tag.
	other := tag
	other.Repository = "docker-prod"
	if changed, err := s.UpsertTag(ctx, other); err != nil || !changed {
		t.Fatalf("same tag in another repository: changed=%v err=%v", changed, err)
	}

	tags, err := s.Tags(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 {
		t.Fatalf("tags = %d, want 2: %+v", len(tags), tags)
	}
	got := tags[0] // docker-local sorts first
	if got.Repository != "docker-local" || got.Digest != dgst(2) {
		t.Fatalf("tag = %+v", got)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if !got.FirstSeen.Equal(start.Add(time.Minute)) || !got.LastSeen.Equal(start.Add(4*time.Minute)) {
		t.Fatalf("first/last seen = %v/%v", got.FirstSeen, got.LastSeen)
	}
	byDigest, err := s.TagsForDigest(ctx, dgst(2))
	if err != nil || len(byDigest) != 2 {
		t.Fatalf("TagsForDigest = %+v, %v", byDigest, err)
	}
	if old, err := s.TagsForDigest(ctx, dgst(1)); err != nil || len(old) != 0 {
		t.Fatalf("old digest still has tags: %+v %v", old, err)
	}

	if _, err := s.UpsertTag(ctx, Tag{Integration: "prod", Repository: "r", Image: "i", Tag: "t"}); err == nil || !strings.Contains(err.Error(), "digest is required") {
		t.Fatalf("upsert without digest: %v", err)
	}
	if err := s.DeleteTag(ctx, "prod", "docker-prod", "team/app", "1.0"); err != nil {
		t.Fatal(err)
	}
	if tags, _ := s.Tags(ctx, "prod"); len(tags) != 1 {
		t.Fatalf("after delete: %+v", tags)
	}
}

func TestClaimIsAtomicUnderConcurrentWorkers(t *testing.T) {
	clk := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"), WithClock(clk.now))
	ctx := t.Context()
	const n = 200
	for i := range n {
		if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: dgst(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		calls   atomic.Int64
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimDue(ctx, clk.now(), 3+w%3)
				calls.Add(1)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, a := range got {
					claimed[a.Digest]++
					if a.Status != StatusRunning || a.Attempts != 1 {
						t.Errorf("claimed %s: status=%s attempts=%d", a.Digest, a.Status, a.Attempts)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != n {
		t.Fatalf("claimed %d distinct digests, want %d", len(claimed), n)
	}
	for d, c := range claimed {
		if c != 1 {
			t.Fatalf("%s claimed %d times", d, c)
		}
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusRunning] != n || counts[StatusPending] != 0 {
		t.Fatalf("counts = %v", counts)
	}
}

func TestClaimRespectsNextAttemptAndRetryLifecycle(t *testing.T) {
	clk := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"), WithClock(clk.now))
	ctx := t.Context()
	if created, err := s.EnsureAnalysis(ctx, Analysis{Digest: dgst(1), Reference: "h/r/i:1"}); err != nil || !created {
		t.Fatalf("EnsureAnalysis: created=%v err=%v", created, err)
	}
	if created, err := s.EnsureAnalysis(ctx, Analysis{Digest: dgst(1), Reference: "other"}); err != nil || created {
		t.Fatalf("second EnsureAnalysis: created=%v err=%v", created, err)
	}
	got, err := s.ClaimDue(ctx, clk.now(), 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	if got[0].Reference != "h/r/i:1" {
		t.Fatalf("EnsureAnalysis overwrote the existing row: %+v", got[0])
	}
	// Retryable failure: not due until next.
	next := clk.now().Add(30 * time.Second)
	if err := s.Fail(ctx, dgst(1), "GET blob: 503", next, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimDue(ctx, clk.now(), 10); len(got) != 0 {
		t.Fatalf("claimed before next attempt: %+v", got)
	}
	clk.add(30 * time.Second)
	got, err = s.ClaimDue(ctx, clk.now(), 10)
	if err != nil || len(got) != 1 || got[0].Attempts != 2 || got[0].Error != "GET blob: 503" {
		t.Fatalf("second claim: %+v %v", got, err)
	}
	// Terminal failure: never claimed again.
	if err := s.Fail(ctx, dgst(1), "malformed manifest", time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour)
	if got, _ := s.ClaimDue(ctx, clk.now(), 10); len(got) != 0 {
		t.Fatalf("terminal failure claimed again: %+v", got)
	}
	a, ok, err := s.Get(ctx, dgst(1))
	if err != nil || !ok || a.Status != StatusFailed || a.Error != "malformed manifest" || a.Attempts != 2 {
		t.Fatalf("after terminal failure: %+v ok=%v err=%v", a, ok, err)
	}
	// --force brings it back with a clean slate.
	if err := s.ResetAnalysis(ctx, dgst(1)); err != nil {
		t.Fatal(err)
	}
	got, err = s.ClaimDue(ctx, clk.now(), 10)
	if err != nil || len(got) != 1 || got[0].Attempts != 1 || got[0].Error != "" {
		t.Fatalf("claim after reset: %+v %v", got, err)
	}
	if err := s.Complete(ctx, dgst(1), StatusDone, 42, ""); err != nil {
		t.Fatal(err)
	}
	a, _, _ = s.Get(ctx, dgst(1))
	if a.Status != StatusDone || a.PackageCount != 42 || !a.AnalyzedAt.Equal(clk.now()) {
		t.Fatalf("after complete: %+v", a)
	}
	if err := s.Complete(ctx, dgst(1), StatusRunning, 0, ""); err == nil {
		t.Fatal("Complete accepted status running")
	}
	if err := s.Fail(ctx, dgst(99), "x", time.Time{}, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Fail of unknown digest: %v", err)
	}
	if err := s.ResetAnalysis(ctx, dgst(99)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reset of unknown digest: %v", err)
	}
}

func TestResetAnalysisIncludesPlatformsButNotRunning(t *testing.T) {
	clk := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"), WithClock(clk.now))
	ctx := t.Context()
	idx := dgst(100)
	for _, a := range []Analysis{
		{Digest: idx, Status: StatusDone},
		{Digest: dgst(1), Parent: idx, Platform: "linux/amd64", Status: StatusDone},
		{Digest: dgst(2), Parent: idx, Platform: "linux/arm64"},
	} {
		if _, err := s.EnsureAnalysis(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.ClaimDue(ctx, clk.now(), 10); err != nil || len(got) != 1 || got[0].Digest != dgst(2) {
		t.Fatalf("claim: %+v %v", got, err)
	}
	if err := s.ResetAnalysis(ctx, idx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{idx: StatusPending, dgst(1): StatusPending, dgst(2): StatusRunning}
	for d, st := range want {
		a, _, _ := s.Get(ctx, d)
		if a.Status != st {
			t.Errorf("%s status = %s, want %s", d, a.Status, st)
		}
	}
	ps, err := s.Platforms(ctx, idx)
	if err != nil || len(ps) != 2 || ps[0].Platform != "linux/amd64" {
		t.Fatalf("Platforms = %+v %v", ps, err)
	}
}

func TestRunningAnalysesRecoveredOnReopen(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	s := openTest(t, path, WithClock(clk.now))
	ctx := t.Context()
	for i := range 3 {
		if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: dgst(i)}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.ClaimDue(ctx, clk.now(), 2)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	// Simulate kill -9: the process vanishes without finishing. Closing the handles
	// is what the kernel does; no store method runs.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, WithClock(clk.now))
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusRunning] != 0 || counts[StatusPending] != 3 {
		t.Fatalf("counts after reopen = %v, want 3 pending", counts)
	}
	again, err := s.ClaimDue(ctx, clk.now(), 10)
	if err != nil || len(again) != 3 {
		t.Fatalf("claim after recovery: %+v %v", again, err)
	}
	for _, a := range again {
		wantAttempts := 1
		if a.Digest == claimed[0].Digest || a.Digest == claimed[1].Digest {
			wantAttempts = 2 // the interrupted attempt counts
		}
		if a.Attempts != wantAttempts {
			t.Errorf("%s attempts = %d, want %d", a.Digest, a.Attempts, wantAttempts)
		}
	}
}

func TestFinishStoresResultAndDeliveryLifecycle(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	s := openTest(t, path, WithClock(clk.now))
	ctx := t.Context()
	d := dgst(7)
	if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: d}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDue(ctx, clk.now(), 1); err != nil {
		t.Fatal(err)
	}
	res := &Result{Metadata: []byte(`{"digest":"` + d + `"}`), SBOMs: map[string][]byte{"cyclonedx-json": []byte(`{"bomFormat":"CycloneDX"}`)}}
	outputs := []string{"directory:/results", "http:https://inv.example/v1"}
	if err := s.Finish(ctx, d, Completion{Status: StatusDone, PackageCount: 3, Result: res, Outputs: outputs}); err != nil {
		t.Fatal(err)
	}
	for _, o := range outputs {
		got, err := s.PendingDeliveries(ctx, o, 10)
		if err != nil || !reflect.DeepEqual(got, []string{d}) {
			t.Fatalf("pending at %s = %v %v", o, got, err)
		}
	}
	// Delivery to the first output succeeds; the second fails and retries later.
	if err := s.MarkDelivered(ctx, outputs[0], d); err != nil {
		t.Fatal(err)
	}
	if err := s.FailDelivery(ctx, outputs[1], d, "POST: 503", clk.now().Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PendingDeliveries(ctx, outputs[0], 10); len(got) != 0 {
		t.Fatalf("delivered digest still pending: %v", got)
	}
	if got, _ := s.PendingDeliveries(ctx, outputs[1], 10); len(got) != 0 {
		t.Fatalf("failed delivery due before its next attempt: %v", got)
	}
	// SBOMs are kept while a delivery is outstanding, so they survive a restart.
	if n, err := s.PruneDeliveredSBOMs(ctx); err != nil || n != 0 {
		t.Fatalf("prune with outstanding delivery: n=%d err=%v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	s = openTest(t, path, WithClock(clk.now))
	due, err := s.DueDeliveries(ctx, "", clk.now(), 0)
	if err != nil || len(due) != 1 || due[0].Output != outputs[1] || due[0].Attempts != 1 || due[0].Error != "POST: 503" {
		t.Fatalf("due after reopen: %+v %v", due, err)
	}
	got, ok, err := s.Result(ctx, d)
	if err != nil || !ok || string(got.Metadata) != string(res.Metadata) || string(got.SBOMs["cyclonedx-json"]) != `{"bomFormat":"CycloneDX"}` {
		t.Fatalf("result after reopen: %+v ok=%v err=%v", got, ok, err)
	}
	if err := s.MarkDelivered(ctx, outputs[1], d); err != nil {
		t.Fatal(err)
	}
	dl, ok, err := s.Delivery(ctx, outputs[1], d)
	if err != nil || !ok || dl.Status != DeliveryDelivered || !dl.DeliveredAt.Equal(clk.now()) || dl.Error != "" {
		t.Fatalf("delivery = %+v ok=%v err=%v", dl, ok, err)
	}
	if n, err := s.PruneDeliveredSBOMs(ctx); err != nil || n != 1 {
		t.Fatalf("prune after delivery: n=%d err=%v", n, err)
	}
	got, _, _ = s.Result(ctx, d)
	if len(got.SBOMs) != 0 || len(got.Metadata) == 0 {
		t.Fatalf("after prune: %+v", got)
	}
	// A new tag re-enqueues a delivered digest.
	if err := s.EnqueueDelivery(ctx, outputs[0], d); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PendingDeliveries(ctx, outputs[0], 10); len(got) != 1 {
		t.Fatalf("re-enqueued delivery not pending: %v", got)
	}
	// Terminal failure leaves the queue.
	if err := s.FailDelivery(ctx, outputs[0], d, "400 bad request", time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PendingDeliveries(ctx, outputs[0], 10); len(got) != 0 {
		t.Fatalf("terminal delivery failure still pending: %v", got)
	}
	counts, err := s.DeliveryCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[outputs[0]][DeliveryFailed] != 1 || counts[outputs[1]][DeliveryDelivered] != 1 {
		t.Fatalf("delivery counts = %v", counts)
	}
	// A new output gets every stored result.
	if n, err := s.EnqueueMissingDeliveries(ctx, "dependency_track:https://dt"); err != nil || n != 1 {
		t.Fatalf("EnqueueMissingDeliveries = %d %v", n, err)
	}
	if n, err := s.EnqueueMissingDeliveries(ctx, "dependency_track:https://dt"); err != nil || n != 0 {
		t.Fatalf("second EnqueueMissingDeliveries = %d %v", n, err)
	}
	// Deliveries need an analysis (foreign key).
	if err := s.EnqueueDelivery(ctx, outputs[0], dgst(404)); err == nil {
		t.Fatal("delivery of an unknown digest accepted")
	}
}

func TestFinishIsAtomic(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	ctx := t.Context()
	d := dgst(1)
	if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: d}); err != nil {
		t.Fatal(err)
	}
	// An invalid output name fails the transaction after the status update ran.
	err := s.Finish(ctx, d, Completion{Status: StatusDone, Result: &Result{Metadata: []byte(`{}`)}, Outputs: []string{"dir", ""}})
	if err == nil {
		t.Fatal("Finish with an empty output name succeeded")
	}
	a, _, _ := s.Get(ctx, d)
	if a.Status != StatusPending {
		t.Fatalf("status after failed Finish = %s, want pending (rolled back)", a.Status)
	}
	if _, ok, _ := s.Result(ctx, d); ok {
		t.Fatal("result stored by a failed Finish")
	}
	if got, _ := s.PendingDeliveries(ctx, "dir", 10); len(got) != 0 {
		t.Fatalf("delivery enqueued by a failed Finish: %v", got)
	}
}

func TestListAndInventory(t *testing.T) {
	clk := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"), WithClock(clk.now))
	ctx := t.Context()
	idx, amd, arm, single := dgst(10), dgst(11), dgst(12), dgst(20)
	tags := []Tag{
		{Integration: "prod", Repository: "docker-local", Image: "app", Tag: "1.0", Digest: idx},
		{Integration: "prod", Repository: "docker-prod", Image: "app", Tag: "1.0", Digest: idx},
		{Integration: "prod", Repository: "docker-local", Image: "tool", Tag: "latest", Digest: single},
		{Integration: "prod", Repository: "docker-local", Image: "new", Tag: "x", Digest: dgst(30)}, // not analysed yet
	}
	for _, tg := range tags {
		if _, err := s.UpsertTag(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []Analysis{
		{Digest: idx, Status: StatusDone},
		{Digest: amd, Parent: idx, Platform: "linux/amd64"},
		{Digest: arm, Parent: idx, Platform: "linux/arm64"},
		{Digest: single},
	} {
		clk.add(time.Second)
		if _, err := s.EnsureAnalysis(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Complete(ctx, single, StatusSkipped, 0, "helm chart"); err != nil {
		t.Fatal(err)
	}

	digests := func(as []Analysis) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Digest)
		}
		sort.Strings(out)
		return out
	}
	cases := []struct {
		f    ListFilter
		want []string
	}{
		{ListFilter{}, []string{idx, amd, arm, single}},
		{ListFilter{Repository: "docker-prod"}, []string{idx, amd, arm}}, // platforms through their parent's tags
		{ListFilter{Repository: "docker-local", Image: "tool"}, []string{single}},
		{ListFilter{Status: StatusPending}, []string{amd, arm}},
		{ListFilter{Status: StatusSkipped, Repository: "docker-prod"}, nil},
	}
	for _, c := range cases {
		got, err := s.List(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string(nil), c.want...)
		sort.Strings(want)
		if !reflect.DeepEqual(digests(got), want) {
			t.Errorf("List(%+v) = %v, want %v", c.f, digests(got), want)
		}
	}
	// Paging walks every row exactly once, newest update first.
	var paged []string
	for off := 0; ; off += 3 {
		page, err := s.List(ctx, ListFilter{Limit: 3, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			paged = append(paged, a.Digest)
		}
	}
	if len(paged) != 4 || paged[0] != single {
		t.Fatalf("paged = %v, want 4 rows starting with the last updated", paged)
	}

	inv, err := s.Inventory(ctx, ListFilter{Repository: "docker-local"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 3 {
		t.Fatalf("inventory = %+v", inv)
	}
	byImage := map[string]InventoryItem{}
	for _, it := range inv {
		byImage[it.Tag.Image] = it
	}
	if it := byImage["tool"]; !it.Analyzed || it.Analysis.Status != StatusSkipped || it.Analysis.Reason != "helm chart" {
		t.Errorf("tool = %+v", it)
	}
	if it := byImage["new"]; it.Analyzed || it.Analysis.Status != "" {
		t.Errorf("unanalysed tag = %+v", it)
	}
	if it := byImage["app"]; it.Analysis.Digest != idx || it.Analysis.Status != StatusDone {
		t.Errorf("app = %+v", it)
	}
	if inv, err := s.Inventory(ctx, ListFilter{Status: StatusDone, Limit: 1, Offset: 1}); err != nil || len(inv) != 1 || inv[0].Tag.Repository != "docker-prod" {
		t.Fatalf("inventory page 2 of done = %+v %v", inv, err)
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				tg := Tag{Integration: "prod", Repository: fmt.Sprint("r", w), Image: "app", Tag: fmt.Sprint(i), Digest: dgst(w*1000 + i)}
				if _, err := s.UpsertTag(ctx, tg); err != nil {
					errs <- err
					return
				}
				if _, err := s.Tags(ctx, "prod"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tags, err := s.Tags(ctx, "prod")
	if err != nil || len(tags) != 200 {
		t.Fatalf("tags = %d %v", len(tags), err)
	}
}

func TestUpsertTagsBatchIsAllOrNothing(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	ctx := t.Context()
	if _, err := s.UpsertTag(ctx, Tag{Integration: "prod", Repository: "r", Image: "app", Tag: "1", Digest: dgst(1)}); err != nil {
		t.Fatal(err)
	}
	batch := []Tag{
		{Integration: "prod", Repository: "r", Image: "app", Tag: "1", Digest: dgst(1)}, // unchanged
		{Integration: "prod", Repository: "r", Image: "app", Tag: "2", Digest: dgst(2)}, // new
		{Integration: "prod", Repository: "r", Image: "app", Tag: "2", Digest: dgst(3)}, // moved within the batch
	}
	changed, err := s.UpsertTags(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(changed, []bool{false, true, true}) {
		t.Fatalf("changed = %v", changed)
	}
	// One invalid tag rejects the whole batch.
	if _, err := s.UpsertTags(ctx, []Tag{{Integration: "prod", Repository: "r", Image: "app", Tag: "3", Digest: dgst(4)}, {Integration: "prod"}}); err == nil {
		t.Fatal("invalid batch accepted")
	}
	tags, _ := s.Tags(ctx, "prod")
	if len(tags) != 2 || tags[1].Digest != dgst(3) {
		t.Fatalf("tags = %+v", tags)
	}
}

func TestFailedMigrationIsRolledBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	s := openTest(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	// Migration 2 creates a table, then fails: neither the table nor the version may remain.
	migrations = append(append([]string(nil), saved...), `CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);`)
	if _, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d", len(migrations))) {
		t.Fatalf("Open with a failing migration: %v", err)
	}
	migrations = saved
	s = openTest(t, path)
	var n int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("half-applied migration left a table: n=%d err=%v", n, err)
	}
	if v, _ := s.SchemaVersion(t.Context()); v != len(saved) {
		t.Fatalf("schema version = %d, want %d", v, len(saved))
	}
}

func TestReaderConnectionsAreQueryOnly(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "imagewatch.db"))
	if _, err := s.r.ExecContext(t.Context(), `INSERT INTO integrations (name, updated_at) VALUES ('x', 0)`); err == nil {
		t.Fatal("write through a reader connection succeeded")
	}
}
