package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkUpsertTags measures recording a discovery page of 500 tags in one
// transaction versus one transaction per tag.
func BenchmarkUpsertTags(b *testing.B) {
	page := make([]Tag, 500)
	for i := range page {
		page[i] = Tag{Integration: "prod", Repository: "docker-local", Image: fmt.Sprint("app", i%20), Tag: fmt.Sprint(i), Digest: dgst(i)}
	}
	b.Run("batch", func(b *testing.B) {
		s, err := Open(b.Context(), filepath.Join(b.TempDir(), "imagewatch.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			if _, err := s.UpsertTags(b.Context(), page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		s, err := Open(b.Context(), filepath.Join(b.TempDir(), "imagewatch.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			for _, t := range page {
				if _, err := s.UpsertTag(b.Context(), t); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkClaimComplete is one worker cycle: claim a due analysis, finish it
// with a small result and one delivery, mark it delivered.
func BenchmarkClaimComplete(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "imagewatch.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	res := &Result{Metadata: []byte(`{"digest":"x"}`), SBOMs: map[string][]byte{"cyclonedx-json": make([]byte, 64<<10)}}
	i := 0
	for b.Loop() {
		d := dgst(i)
		i++
		if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: d}); err != nil {
			b.Fatal(err)
		}
		got, err := s.ClaimDue(ctx, time.Now(), 1)
		if err != nil || len(got) != 1 {
			b.Fatal(got, err)
		}
		if err := s.Finish(ctx, d, Completion{Status: StatusDone, Result: res, Outputs: []string{"directory:/r"}}); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkDelivered(ctx, "directory:/r", d); err != nil {
			b.Fatal(err)
		}
	}
}
