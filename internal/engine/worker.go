package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/analyze"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

const (
	// idleWait is how long the dispatcher sleeps when nothing is due and nothing
	// woke it (new work from discovery wakes it at once).
	idleWait = 2 * time.Second
	// untaggedRetry is the wait before retrying an analysis whose tag is not
	// recorded yet (discovery records it right after).
	untaggedRetry = 500 * time.Millisecond
	// finalWrite bounds the store writes made after ctx was cancelled.
	finalWrite = 3 * time.Second
)

// errUntagged: the digest has no recorded tag yet (or any more).
var errUntagged = errors.New("no recorded tag points at this digest")

// job is one unit of work: an analysis or a delivery.
type job struct {
	analysis *store.Analysis
	delivery *store.Delivery
}

// dispatch runs the worker pool: it claims due analyses from the store (and due
// deliveries), at most Workers at a time. With drain it returns once nothing is
// left to do (nothing running, nothing pending, nothing to deliver); otherwise
// it runs until ctx is cancelled. On cancellation it stops claiming and waits
// (bounded) for in-flight work, which checkpoints itself.
func (e *Engine) dispatch(ctx context.Context, drain bool) error {
	workers := e.workers()
	var (
		wg       sync.WaitGroup
		inflight int
		done     = make(chan struct{}, workers)
	)
	run := func(j job) {
		inflight++
		wg.Add(1)
		go func() {
			defer func() { wg.Done(); done <- struct{}{} }()
			if j.analysis != nil {
				e.process(ctx, *j.analysis)
			} else {
				e.deliverOne(ctx, *j.delivery)
			}
		}()
	}
	defer func() {
		// Stop claiming; let in-flight work finish or checkpoint, but not forever.
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(shutdownWait):
			e.log.Warn("in-flight analyses did not stop in time; they are retried on the next start")
		}
	}()

	for {
		if ctx.Err() != nil {
			return nil
		}
		claimed, storeErr := e.claim(ctx, workers-inflight, run)
		wait := idleWait
		switch {
		case storeErr != nil:
			if ctx.Err() != nil {
				return nil
			}
			if drain {
				return storeErr
			}
			// Watch mode never exits on a store hiccup (busy, disk full): retry later.
			e.log.Error("cannot read the queue; retrying", "error", storeErr, "in", idleWait)
		case claimed == 0 && inflight == 0:
			next, pending, err := e.nextDue(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if drain {
					return err
				}
				e.log.Error("cannot read the queue; retrying", "error", err, "in", idleWait)
				break
			}
			if !pending && drain {
				return nil
			}
			if pending {
				wait = min(max(next.Sub(e.set.clock()), 10*time.Millisecond), idleWait)
			}
		case claimed > 0 && inflight < workers:
			continue // more may be due right away
		}

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-done:
			inflight--
		case <-e.wake:
		case <-t.C:
		}
		t.Stop()
		// Collect other finished workers without blocking.
		for drained := false; !drained; {
			select {
			case <-done:
				inflight--
			default:
				drained = true
			}
		}
	}
}

// claim starts up to free jobs: due analyses first, then due deliveries.
func (e *Engine) claim(ctx context.Context, free int, run func(job)) (int, error) {
	if free <= 0 {
		return 0, nil
	}
	now := e.set.clock()
	items, err := e.store.ClaimDue(ctx, now, free)
	if err != nil {
		return 0, fmt.Errorf("claim analyses: %w", err)
	}
	for i := range items {
		run(job{analysis: &items[i]})
	}
	claimed := len(items)
	free -= claimed
	for _, o := range e.outNames {
		if free <= 0 {
			break
		}
		ds, err := e.store.DueDeliveries(ctx, o, now, free+e.workers())
		if err != nil {
			return claimed, fmt.Errorf("due deliveries: %w", err)
		}
		for i := range ds {
			if free <= 0 {
				break
			}
			if !e.claimDelivery(ds[i].Output, ds[i].Digest) {
				continue // being delivered right now
			}
			run(job{delivery: &ds[i]})
			free--
			claimed++
		}
	}
	return claimed, nil
}

// nextDue reports whether any analysis or delivery is still pending and when
// the earliest is due.
func (e *Engine) nextDue(ctx context.Context) (time.Time, bool, error) {
	var (
		next    time.Time
		pending bool
	)
	as, err := e.store.List(ctx, store.ListFilter{Status: store.StatusPending})
	if err != nil {
		return next, false, err
	}
	for _, a := range as {
		if !pending || a.NextAttempt.Before(next) {
			next, pending = a.NextAttempt, true
		}
	}
	// Deliveries to outputs no longer configured are left alone.
	for _, o := range e.outNames {
		ds, err := e.store.DueDeliveries(ctx, o, time.Unix(1<<40, 0), 0)
		if err != nil {
			return next, false, err
		}
		for _, d := range ds {
			if !pending || d.NextAttempt.Before(next) {
				next, pending = d.NextAttempt, true
			}
		}
	}
	return next, pending, nil
}

// process analyses one claimed digest and records the outcome. It never
// returns an error: failures are recorded on the analysis (retry or failed).
func (e *Engine) process(ctx context.Context, a store.Analysis) {
	log := e.log.Named("worker").With("digest", a.Digest)
	if a.Parent != "" {
		log = log.With("index", a.Parent, "platform", a.Platform)
	}
	start := time.Now()
	err := e.analyse(ctx, a)
	if err == nil {
		log.Debug("analysis finished", "took", time.Since(start).Round(time.Millisecond))
	} else {
		e.recordFailure(ctx, a, err, log)
	}
	if m := e.set.metrics; m != nil && ctx.Err() == nil {
		// Re-read the outcome: only finished analyses (done, skipped, failed) count.
		if cur, ok, gerr := e.store.Get(ctx, a.Digest); gerr == nil && ok && cur.Status != store.StatusPending && cur.Status != store.StatusRunning {
			name := ""
			if in, ok := e.integrationForRetry(ctx, a); ok {
				name = in.name
			}
			m.ObserveAnalysis(name, cur.Status, time.Since(start))
		}
	}
}

// analyse is one attempt at a claimed analysis.
func (e *Engine) analyse(ctx context.Context, a store.Analysis) error {
	tags, err := e.store.TagsForManifest(ctx, a.Digest)
	if err != nil {
		return err
	}
	in, tag, err := e.source(tags)
	if err != nil {
		return err
	}
	ref, err := in.digestRef(tag.Repository, tag.Image, a.Digest)
	if err != nil {
		return permanentError{fmt.Errorf("reference for %s/%s@%s: %w", tag.Repository, tag.Image, a.Digest, err)}
	}

	// A tag known to be a single image goes straight to Analyze (one manifest
	// fetch less); indexes and unknown media types are resolved first.
	mt := types.MediaType(a.MediaType)
	if a.Parent == "" && !mt.IsImage() {
		res, err := e.analyzer.Resolve(ctx, ref, in.remoteOpts...)
		if err != nil {
			return err
		}
		if res.Skipped != "" {
			return e.finishSkipped(ctx, a, res.Skipped)
		}
		if res.IsIndex() {
			return e.finishIndex(ctx, a, in, tag, tags, res)
		}
	}

	result, err := e.analyzer.Analyze(ctx, ref, in.remoteOpts...)
	if _, skip := analyze.IsSkip(err); !skip {
		e.countAnalysed(a.Digest)
	}
	if err != nil {
		return err
	}
	md := result.Metadata
	md.Tags = tagRefs(tags)
	if md.BaseImage == nil {
		md.BaseImage = e.deriveBase(ctx, md)
	}
	doc, err := json.Marshal(md)
	if err != nil {
		return permanentError{fmt.Errorf("encode metadata: %w", err)}
	}
	if err := e.store.Finish(ctx, a.Digest, store.Completion{
		Status:       store.StatusDone,
		PackageCount: md.PackageCount,
		Result:       &store.Result{Metadata: doc, SBOMs: result.SBOMs},
		Outputs:      e.outNames,
	}); err != nil {
		return err
	}
	e.bases.add(a.Digest, diffIDs(md))
	e.progress.finished(false)
	e.deliverAll(ctx, a.Digest)
	return nil
}

// finishIndex records the platform manifests of an index as analyses of their
// own (Parent = the index) and completes the index with a metadata.json that
// lists them.
func (e *Engine) finishIndex(ctx context.Context, a store.Analysis, in *integration, tag store.Tag, tags []store.Tag, res *analyze.Resolved) error {
	for _, p := range res.Platforms {
		ref := artifactory.ImageReference(in.client.Endpoints().RegistryHost, tag.Repository, tag.Image, p.Digest)
		created, err := e.store.EnsureAnalysis(ctx, store.Analysis{
			Digest: p.Digest, Parent: a.Digest, Platform: p.Platform.String(), Reference: ref,
		})
		if err != nil {
			return err
		}
		if created {
			e.progress.add(1)
		}
	}
	md := res.Metadata(e.set.clock())
	md.Tags = tagRefs(tags)
	doc, err := json.Marshal(md)
	if err != nil {
		return permanentError{fmt.Errorf("encode metadata: %w", err)}
	}
	if err := e.store.Finish(ctx, a.Digest, store.Completion{
		Status:  store.StatusDone,
		Result:  &store.Result{Metadata: doc},
		Outputs: e.outNames,
	}); err != nil {
		return err
	}
	e.progress.finished(false)
	e.notify()
	e.deliverAll(ctx, a.Digest)
	return nil
}

func (e *Engine) finishSkipped(ctx context.Context, a store.Analysis, reason string) error {
	if err := e.store.Finish(ctx, a.Digest, store.Completion{Status: store.StatusSkipped, Reason: reason}); err != nil {
		return err
	}
	e.log.Info("skipped: not a container image", "digest", a.Digest, "reason", reason)
	e.progress.finished(false)
	return nil
}

// source picks the integration and tag to pull a digest through: the first
// recorded tag whose integration is still configured.
func (e *Engine) source(tags []store.Tag) (*integration, store.Tag, error) {
	if len(tags) == 0 {
		return nil, store.Tag{}, errUntagged
	}
	for _, t := range tags {
		if in, ok := e.integration(t.Integration); ok {
			return in, t, nil
		}
	}
	return nil, store.Tag{}, permanentError{fmt.Errorf("integration %q is no longer configured", tags[0].Integration)}
}

// recordFailure decides between retry, skip and failed for good.
func (e *Engine) recordFailure(ctx context.Context, a store.Analysis, err error, log hclog.Logger) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWrite)
	defer cancel()
	now := e.set.clock()

	if ctx.Err() != nil {
		// Shutdown: checkpoint as pending, due at once on the next start.
		if ferr := e.store.Fail(wctx, a.Digest, "interrupted by shutdown", now, false); ferr != nil {
			log.Warn("cannot checkpoint interrupted analysis; it is recovered on the next start", "error", ferr)
		}
		return
	}
	if reason, ok := analyze.IsSkip(err); ok {
		if ferr := e.finishSkipped(wctx, a, reason); ferr != nil {
			log.Error("cannot record skipped analysis", "error", ferr)
		}
		return
	}

	var perm permanentError
	terminal := analyze.IsPermanent(err) || errors.As(err, &perm)
	exhausted := a.Attempts >= e.set.retry.MaxAttempts
	msg := err.Error()
	next := now.Add(e.set.retry.Backoff(a.Attempts))
	if errors.Is(err, errUntagged) {
		next = now.Add(untaggedRetry)
	}
	if in, ok := e.integrationForRetry(ctx, a); ok && isRateLimited(err) {
		if d := in.retryAfter(now); d > 0 && now.Add(d).After(next) {
			next = now.Add(d)
		}
	}
	switch {
	case terminal:
		log.Error("analysis failed permanently", "error", msg)
	case exhausted:
		msg = fmt.Sprintf("gave up after %d attempts: %s", a.Attempts, msg)
		terminal = true
		log.Error("analysis failed", "attempts", a.Attempts, "error", err)
	default:
		log.Warn("analysis failed; retrying", "attempt", a.Attempts, "max_attempts", e.set.retry.MaxAttempts,
			"retry_in", next.Sub(now).Round(time.Millisecond), "error", err)
	}
	if ferr := e.store.Fail(wctx, a.Digest, msg, next, terminal); ferr != nil {
		log.Error("cannot record failed analysis", "error", ferr)
		return
	}
	if terminal {
		e.progress.finished(true)
	}
}

func (e *Engine) integrationForRetry(ctx context.Context, a store.Analysis) (*integration, bool) {
	tags, err := e.store.TagsForManifest(ctx, a.Digest)
	if err != nil {
		return nil, false
	}
	in, _, err := e.source(tags)
	return in, err == nil
}

func isRateLimited(err error) bool {
	return analyze.StatusCode(err) == http.StatusTooManyRequests || artifactory.StatusCode(err) == http.StatusTooManyRequests
}

// permanentError marks an engine-side failure that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// claimDelivery marks output/digest as being delivered by this process; it
// reports false when another worker already is.
func (e *Engine) claimDelivery(out, digest string) bool {
	_, busy := e.delivering.LoadOrStore(out+"\x00"+digest, struct{}{})
	return !busy
}

func (e *Engine) releaseDelivery(out, digest string) { e.delivering.Delete(out + "\x00" + digest) }

// deliverAll attempts the deliveries of a freshly stored result at once; the
// ones that fail stay pending in the store and the dispatcher retries them.
func (e *Engine) deliverAll(ctx context.Context, digest string) {
	for _, o := range e.outNames {
		d, ok, err := e.store.Delivery(ctx, o, digest)
		if err != nil || !ok || d.Status != store.DeliveryPending {
			continue
		}
		if !e.claimDelivery(o, digest) {
			continue
		}
		e.deliverOne(ctx, d)
	}
}

// deliverOne sends the stored result of d.Digest to d.Output (tags refreshed
// from the store) and records the outcome. The caller has claimed it.
func (e *Engine) deliverOne(ctx context.Context, d store.Delivery) {
	defer e.releaseDelivery(d.Output, d.Digest)
	log := e.log.Named("deliver").With("output", d.Output, "digest", d.Digest)
	out := e.output(d.Output)
	if out == nil {
		// An output removed from the configuration: nothing to deliver to.
		return
	}
	err := e.deliver(ctx, out, d.Digest)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWrite)
	defer cancel()
	if err == nil {
		if merr := e.store.MarkDelivered(wctx, d.Output, d.Digest); merr != nil {
			log.Error("delivered but cannot record it; it will be delivered again", "error", merr)
		}
		return
	}
	if ctx.Err() != nil {
		return // stays pending; delivered after the restart
	}
	attempt := d.Attempts + 1
	terminal := output.IsPermanent(err) || attempt >= e.set.retry.MaxAttempts
	next := e.set.clock().Add(e.set.retry.Backoff(attempt))
	if terminal {
		log.Error("delivery failed", "attempts", attempt, "error", err)
	} else {
		log.Warn("delivery failed; retrying", "attempt", attempt, "retry_in", next.Sub(e.set.clock()).Round(time.Millisecond), "error", err)
	}
	if ferr := e.store.FailDelivery(wctx, d.Output, d.Digest, err.Error(), next, terminal); ferr != nil {
		log.Error("cannot record failed delivery", "error", ferr)
	}
}

func (e *Engine) output(name string) output.Output {
	for _, o := range e.outputs {
		if o.Name() == name {
			return o
		}
	}
	return nil
}

// deliver builds the artifact of digest from the store, with its current tags.
func (e *Engine) deliver(ctx context.Context, out output.Output, digest string) error {
	res, ok, err := e.store.Result(ctx, digest)
	if err != nil {
		return err
	}
	if !ok {
		return permanentError{fmt.Errorf("no stored result for %s", digest)}
	}
	a, _, err := e.store.Get(ctx, digest)
	if err != nil {
		return err
	}
	var md analyze.Metadata
	if err := json.Unmarshal(res.Metadata, &md); err != nil {
		return permanentError{fmt.Errorf("stored metadata of %s: %w", digest, err)}
	}
	tags, err := e.store.TagsForManifest(ctx, digest)
	if err != nil {
		return err
	}
	if len(tags) > 0 {
		md.Tags = tagRefs(tags)
	}
	art, err := output.NewArtifact(md, res.SBOMs)
	if err != nil {
		return permanentError{err}
	}
	art.Parent = a.Parent
	return out.Deliver(ctx, art)
}

// tagRefs lists tags for metadata.json, sorted for stable output.
func tagRefs(tags []store.Tag) []analyze.TagRef {
	out := make([]analyze.TagRef, 0, len(tags))
	for _, t := range tags {
		out = append(out, analyze.TagRef{Repository: t.Repository, Image: t.Image, Tag: t.Tag, Reference: t.Reference})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reference < out[j].Reference })
	return out
}
