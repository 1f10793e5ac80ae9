package engine

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/analyze"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// progress counts the analyses queued and finished by this run (for logs only;
// the store is the state).
type progress struct {
	mu      sync.Mutex
	started time.Time
	total   int
	done    int
	failed  int
	reset   map[string]bool // digests reset (or queued fresh) by this run
}

func (p *progress) start(now time.Time) {
	p.mu.Lock()
	p.started = now
	p.mu.Unlock()
}

func (p *progress) add(n int) {
	p.mu.Lock()
	p.total += n
	p.mu.Unlock()
}

func (p *progress) finished(failed bool) {
	p.mu.Lock()
	p.done++
	if failed {
		p.failed++
	}
	p.mu.Unlock()
}

// markReset reports whether digest was not yet reset by this run, and marks it.
func (p *progress) markReset(digest string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reset == nil {
		p.reset = map[string]bool{}
	}
	if p.reset[digest] {
		return false
	}
	p.reset[digest] = true
	return true
}

func (p *progress) snapshot() (done, total, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done, p.total, p.failed
}

// logProgress logs done/total, rate and ETA every progress interval until the
// returned stop is called.
func (e *Engine) logProgress(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(e.set.progressInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			done, total, failed := e.progress.snapshot()
			elapsed := e.set.clock().Sub(e.progress.started)
			args := []any{"done", done, "total", total, "failed", failed, "elapsed", elapsed.Round(time.Second)}
			if done > 0 && elapsed > 0 {
				rate := float64(done) / elapsed.Seconds()
				args = append(args, "rate_per_min", int(rate*60+0.5))
				if left := total - done; left > 0 && rate > 0 {
					args = append(args, "eta", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
				}
			}
			e.log.Info("backfill progress", args...)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// baseIndex knows the layers (diff_ids) of every analysed image, to derive a
// base image by longest layer prefix when the image does not name its base.
type baseIndex struct {
	mu     sync.RWMutex
	layers map[string][]string // digest -> diff_ids
}

func newBaseIndex() *baseIndex { return &baseIndex{layers: map[string][]string{}} }

func (b *baseIndex) add(digest string, diffIDs []string) {
	if len(diffIDs) == 0 {
		return
	}
	b.mu.Lock()
	b.layers[digest] = diffIDs
	b.mu.Unlock()
}

// load reads the layers of every stored analysis result.
func (b *baseIndex) load(ctx context.Context, s *store.Store) error {
	done, err := s.List(ctx, store.ListFilter{Status: store.StatusDone})
	if err != nil {
		return err
	}
	for _, a := range done {
		res, ok, err := s.Result(ctx, a.Digest)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		var md analyze.Metadata
		if json.Unmarshal(res.Metadata, &md) == nil {
			b.add(a.Digest, diffIDs(md))
		}
	}
	return nil
}

func (b *baseIndex) find(layers []string) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return analyze.LayerPrefixBase(layers, b.layers)
}

func diffIDs(md analyze.Metadata) []string {
	out := make([]string, 0, len(md.Layers))
	for _, l := range md.Layers {
		if l.DiffID != "" {
			out = append(out, l.DiffID)
		}
	}
	if len(out) != len(md.Layers) {
		return nil
	}
	return out
}

// deriveBase finds the analysed image whose layers are the longest strict
// prefix of md's and names it by one of its tags.
func (e *Engine) deriveBase(ctx context.Context, md analyze.Metadata) *analyze.BaseImage {
	digest, ok := e.bases.find(diffIDs(md))
	if !ok {
		return nil
	}
	base := &analyze.BaseImage{Digest: digest, DerivedFrom: "layers"}
	if tags, err := e.store.TagsForManifest(ctx, digest); err == nil && len(tags) > 0 {
		refs := tagRefs(tags)
		base.Name = refs[0].Reference
	}
	return base
}
