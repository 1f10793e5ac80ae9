// Package engine is imagewatch's reconciler: it discovers new and changed image
// tags in Artifactory, analyses each digest once (syft SBOM plus metadata),
// stores the result and delivers it to every output.
//
// The store is the queue. Discovery records tags and pending analyses; workers
// claim due analyses from the store, re-read everything they need by key and
// record the outcome there. An analysis is marked done in the same transaction
// that stores its result and enqueues one delivery per output; deliveries are
// then attempted at once and retried from the store until acknowledged
// (at-least-once, idempotent by digest). A crash at any point therefore loses
// nothing: running analyses go back to pending on the next start, and pending
// deliveries are retried from the stored result.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/analyze"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/metrics"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/server"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// Defaults of the reconciler.
const (
	// DefaultOverlap is how far before the cursor each incremental query starts, so
	// pushes stamped in the same millisecond as the cursor or by a server clock
	// slightly behind ours are seen again; the store de-duplicates them.
	DefaultOverlap = 2 * time.Minute
	// DefaultMaxAttempts bounds the attempts of one analysis or delivery.
	DefaultMaxAttempts = 5
	// DefaultRetryBase and DefaultRetryMax bound the backoff between attempts.
	DefaultRetryBase = 2 * time.Second
	DefaultRetryMax  = 5 * time.Minute
	// DefaultCacheLimit bounds the layer cache kept between analyses (least
	// recently used layers go first).
	DefaultCacheLimit int64 = 10 << 30
	// DefaultProgressInterval is how often a backfill logs its progress.
	DefaultProgressInterval = 5 * time.Second
	// shutdownWait bounds how long Run waits for in-flight analyses after ctx is
	// cancelled (the CLI must exit within 10 s of SIGTERM).
	shutdownWait = 6 * time.Second
)

// RunOptions selects what Run does.
type RunOptions struct {
	Once         bool      // one discovery cycle, drain the queue, return
	BackfillFrom time.Time // analyse everything modified since then, drain, return
	Force        bool      // with BackfillFrom: analyse again what is already analysed
}

// Option configures an Engine.
type Option func(*settings)

type settings struct {
	clock             func() time.Time
	pollInterval      time.Duration
	retry             RetryPolicy
	overlap           time.Duration
	progressInterval  time.Duration
	cacheLimit        int64
	registryTransport func(http.RoundTripper) http.RoundTripper
	clientOptions     []artifactory.Option
	storeOptions      []store.Option
	metrics           *metrics.Metrics
}

// WithClock sets the engine's clock (cursor times, retry schedules).
func WithClock(now func() time.Time) Option { return func(s *settings) { s.clock = now } }

// WithPollInterval overrides the configuration's poll_interval.
func WithPollInterval(d time.Duration) Option { return func(s *settings) { s.pollInterval = d } }

// WithRetryPolicy sets how often and how fast a failing analysis or delivery is
// retried: at most maxAttempts attempts, waiting base*2^n (capped at max, with
// jitter) in between. base also paces the registry client's own retries.
func WithRetryPolicy(maxAttempts int, base, max time.Duration) Option {
	return func(s *settings) { s.retry = RetryPolicy{MaxAttempts: maxAttempts, Base: base, Max: max} }
}

// WithOverlap sets how far before the cursor incremental queries start.
func WithOverlap(d time.Duration) Option { return func(s *settings) { s.overlap = d } }

// WithProgressInterval sets how often backfill progress is logged.
func WithProgressInterval(d time.Duration) Option {
	return func(s *settings) { s.progressInterval = d }
}

// WithCacheLimit bounds the layer cache (bytes) kept between analyses.
func WithCacheLimit(bytes int64) Option { return func(s *settings) { s.cacheLimit = bytes } }

// WithRegistryTransport wraps the transport used for registry pulls (metrics, tests).
func WithRegistryTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(s *settings) { s.registryTransport = wrap }
}

// WithClientOptions adds options to every Artifactory client (after the
// integration's own), e.g. a faster retry schedule in tests.
func WithClientOptions(opts ...artifactory.Option) Option {
	return func(s *settings) { s.clientOptions = append(s.clientOptions, opts...) }
}

// WithMetrics records polls, discoveries, analyses and registry requests in m
// (and lets m read queue depths from the store). With `listen` set and no
// WithMetrics, New creates one, served on /metrics.
func WithMetrics(m *metrics.Metrics) Option { return func(s *settings) { s.metrics = m } }

// WithStoreOptions adds options to store.Open.
func WithStoreOptions(opts ...store.Option) Option {
	return func(s *settings) { s.storeOptions = append(s.storeOptions, opts...) }
}

// Engine is the reconciler. Build it with New, then call Run once.
type Engine struct {
	cfg      *config.Config
	log      hclog.Logger
	set      settings
	store    *store.Store
	analyzer *analyze.Analyzer
	outputs  []output.Output
	outNames []string

	mu           sync.Mutex
	integrations map[string]*integration // by name; replaced on integrations_dir reload
	order        []string

	// Reloads of integrations_dir (watcher, poll ticks) run one at a time; what
	// they logged last is kept so an unchanged problem is not logged again.
	reloadMu   sync.Mutex
	shownWarns map[string]bool
	shownErrs  map[string]bool
	rejected   map[string]string // integration -> fingerprint of the configuration newIntegration refused
	sources    map[string]string // integration -> the fragment file it was last loaded from
	dirWatched <-chan struct{}   // closed when the integrations_dir watcher stopped; nil when not watching

	router     *server.Router // webhook routes, replaced on every reload of the integrations
	stopping   atomic.Bool    // Run's ctx is done: /readyz says so
	bases      *baseIndex
	wake       chan struct{} // new work for the dispatcher
	triggerCh  chan struct{} // Trigger: poll now
	triggerMu  sync.Mutex
	triggered  map[string]bool
	delivering sync.Map // output+"\x00"+digest -> struct{}: deliveries in progress
	force      bool     // this run re-analyses (children of reset indexes too)
	progress   progress

	// analysed counts Analyze calls per digest in this process (de-duplication is
	// observable in tests; also logged at the end of a backfill).
	analysedMu sync.Mutex
	analysed   map[string]int

	ran       atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New opens the store, builds one Artifactory client per integration, the
// analyzer and the outputs. It does no network I/O; ctx bounds opening the store.
func New(ctx context.Context, cfg *config.Config, logger hclog.Logger, opts ...Option) (*Engine, error) {
	if cfg == nil {
		return nil, errors.New("engine: no configuration")
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	set := settings{
		clock:            time.Now,
		pollInterval:     cfg.PollInterval,
		retry:            RetryPolicy{MaxAttempts: DefaultMaxAttempts, Base: DefaultRetryBase, Max: DefaultRetryMax},
		overlap:          DefaultOverlap,
		progressInterval: DefaultProgressInterval,
		cacheLimit:       DefaultCacheLimit,
	}
	for _, o := range opts {
		o(&set)
	}
	if set.pollInterval <= 0 {
		set.pollInterval = 60 * time.Second
	}
	if err := set.retry.validate(); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if set.overlap < 0 {
		return nil, fmt.Errorf("engine: overlap must not be negative, got %s", set.overlap)
	}
	if set.progressInterval <= 0 {
		set.progressInterval = DefaultProgressInterval
	}
	if set.metrics == nil && cfg.Listen != "" {
		set.metrics = metrics.New(metrics.WithLogger(logger))
	}

	e := &Engine{
		cfg:          cfg,
		log:          logger,
		set:          set,
		integrations: map[string]*integration{},
		bases:        newBaseIndex(),
		wake:         make(chan struct{}, 1),
		triggerCh:    make(chan struct{}, 1),
		triggered:    map[string]bool{},
		analysed:     map[string]int{},
		rejected:     map[string]string{},
	}
	e.router = server.NewRouter(e.Trigger)
	ok := false
	defer func() {
		if !ok {
			_ = e.Close()
		}
	}()

	all, warns, err := cfg.AllIntegrations()
	// A broken fragment must not stop the others; it is reported (again when it changes).
	e.logConfigProblems(warns, err)
	e.learnSources(all)
	if len(all) == 0 {
		return nil, errors.New("engine: no integration configured: add an artifactory[] entry or a fragment to integrations_dir")
	}
	for _, ic := range all {
		in, err := e.newIntegration(ic)
		if err != nil {
			return nil, err
		}
		e.integrations[ic.Name] = in
		e.order = append(e.order, ic.Name)
	}
	e.router.SetRoutes(webhookRoutes(e.integrations, e.order))

	for _, oc := range cfg.Outputs {
		out, err := output.FromConfig(oc, logger.Named("output"))
		if err != nil {
			return nil, fmt.Errorf("engine: output %s: %w", oc.Type, err)
		}
		e.outputs = append(e.outputs, out)
		e.outNames = append(e.outNames, out.Name())
	}
	if len(e.outputs) == 0 {
		return nil, errors.New("engine: no output configured")
	}

	if cfg.State == "" {
		return nil, errors.New("engine: state is empty: set \"state\" in the engine config")
	}
	sopts := append([]store.Option{store.WithLogger(logger), store.WithClock(set.clock)}, set.storeOptions...)
	e.store, err = store.Open(ctx, cfg.State, sopts...)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}

	if set.metrics != nil {
		set.metrics.WatchStore(e.store)
	}

	cacheDir := filepath.Join(filepath.Dir(cfg.State), "cache", "blobs")
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: create blob cache %s: %w", cacheDir, err)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = 1
	}
	e.analyzer, err = analyze.New(
		analyze.WithLogger(logger.Named("analyze")),
		analyze.WithFormats(cfg.SBOMFormats),
		// Workers analyse images in parallel; give each syft run its share of the CPUs.
		analyze.WithParallelism(max(1, runtimeCPUs()/workers)),
		analyze.WithCacheDir(cacheDir),
	)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	ok = true
	return e, nil
}

// Close releases the store and the analyzer. Run calls it before returning;
// it is safe to call more than once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		if e.analyzer != nil {
			errs = append(errs, e.analyzer.Close())
		}
		if e.store != nil {
			errs = append(errs, e.store.Close())
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Store exposes the engine's store (inventory API, tests).
func (e *Engine) Store() *store.Store { return e.store }

// Metrics is what the engine records in (nil without WithMetrics or `listen`).
func (e *Engine) Metrics() *metrics.Metrics { return e.set.metrics }

// Run reconciles until ctx is cancelled (watch mode), or for one cycle
// (ro.Once), or for a backfill (ro.BackfillFrom). With `listen` set it serves
// health, metrics, the inventory API and webhooks meanwhile (see serve). It
// returns nil when ctx is cancelled after in-flight work was checkpointed. Run
// closes the engine: call it once.
func (e *Engine) Run(ctx context.Context, ro RunOptions) (err error) {
	if !e.ran.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice; build a new Engine")
	}
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if ro.Force && ro.BackfillFrom.IsZero() {
		return errors.New("engine: --force needs --backfill-from")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(ctx, func() { e.stopping.Store(true) })
	defer stopWatch()
	if e.cfg.Listen != "" {
		stopServer, err := e.serve(ctx, cancel)
		if err != nil {
			return err
		}
		// Deferred after Close, so it runs first: the server stops before the store closes.
		defer func() {
			e.stopping.Store(true)
			if serr := stopServer(); serr != nil && err == nil {
				err = serr
			}
		}()
	}
	e.force = ro.Force
	if err := e.bases.load(ctx, e.store); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		e.log.Warn("cannot load analysed layers for base image detection", "error", err)
	}
	// Outputs added to the configuration since the last run get every stored result.
	for _, o := range e.outNames {
		if n, err := e.store.EnqueueMissingDeliveries(ctx, o); err != nil {
			e.log.Warn("cannot enqueue deliveries for a new output", "output", o, "error", err)
		} else if n > 0 {
			e.log.Info("new output: delivering every stored result", "output", o, "count", n)
		}
	}

	switch {
	case !ro.BackfillFrom.IsZero():
		return e.runBatch(ctx, &ro.BackfillFrom)
	case ro.Once:
		return e.runBatch(ctx, nil)
	default:
		return e.watch(ctx)
	}
}

// runBatch is --once (from == nil) and --backfill-from: discover every
// integration once, then drain the queue.
func (e *Engine) runBatch(ctx context.Context, from *time.Time) error {
	mode := "once"
	if from != nil {
		mode = "backfill"
		e.log.Info("backfill started", "from", from.UTC().Format(time.RFC3339Nano), "force", e.force)
	}
	e.progress.start(e.set.clock())
	var failed []string
	for _, in := range e.activeIntegrations() {
		e.checkConnection(ctx, in)
		if err := e.discoverWithRetry(ctx, in, from); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Error("discovery failed", "integration", in.name, "error", err)
			failed = append(failed, in.name)
		}
	}
	stopProgress := func() {}
	if from != nil {
		stopProgress = e.logProgress(ctx)
	}
	err := e.dispatch(ctx, true)
	stopProgress()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	e.maintain(ctx)
	done, total, fails := e.progress.snapshot()
	e.log.Info(mode+" finished", "completed", done, "total", total, "failed", fails,
		"elapsed", e.set.clock().Sub(e.progress.started).Round(time.Millisecond))
	if len(failed) > 0 {
		return fmt.Errorf("discovery failed for integration(s) %v: see the log", failed)
	}
	return nil
}

// watch polls every poll interval until ctx is cancelled. Polls never overlap:
// one goroutine runs them back to back; the dispatcher analyses concurrently.
// integrations_dir is watched meanwhile: a fragment added or changed is polled
// within a second, a removed one stops at once. Every poll interval re-reads it
// too, as a safety net for missed events (and the only way when it cannot be
// watched).
func (e *Engine) watch(ctx context.Context) error {
	e.log.Info("watching", "integrations", len(e.order), "poll_interval", e.set.pollInterval, "workers", e.workers())
	dispatched := make(chan error, 1)
	go func() { dispatched <- e.dispatch(ctx, false) }()
	// The watcher stops before watch returns, also when the dispatcher failed.
	wctx, stopWatcher := context.WithCancel(ctx)
	defer stopWatcher()
	if e.dirWatched = e.watchIntegrationsDir(wctx); e.dirWatched != nil {
		defer func() {
			stopWatcher()
			<-e.dirWatched
		}()
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := <-dispatched; err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		case err := <-dispatched:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-e.triggerCh:
			// A webhook or a changed fragment asked for an immediate poll of some
			// integrations; the regular schedule is kept. Re-reading
			// integrations_dir first means a just-removed integration is not
			// polled again, even before the watcher's debounce ends.
			e.reloadIntegrations()
			e.pollAll(ctx, e.takeTriggered())
			continue
		case <-timer.C:
		}
		e.reloadIntegrations()
		e.pollAll(ctx, nil)
		e.maintain(ctx)
		timer.Reset(e.set.pollInterval)
	}
}

// Trigger asks the watch loop for an immediate poll of integration (a webhook
// said something was pushed). It never blocks; triggers coalesce, and polls
// still never overlap.
func (e *Engine) Trigger(integration string) {
	e.triggerMu.Lock()
	e.triggered[integration] = true
	e.triggerMu.Unlock()
	select {
	case e.triggerCh <- struct{}{}:
	default:
	}
}

func (e *Engine) takeTriggered() map[string]bool {
	e.triggerMu.Lock()
	defer e.triggerMu.Unlock()
	t := e.triggered
	e.triggered = map[string]bool{}
	return t
}

// pollAll runs one discovery of every integration that is due (of those in
// only, when not nil), concurrently. A failure is logged and pushes that
// integration's next poll out exponentially (capped); it never stops the loop.
func (e *Engine) pollAll(ctx context.Context, only map[string]bool) {
	now := e.set.clock()
	var wg sync.WaitGroup
	for _, in := range e.activeIntegrations() {
		if now.Before(in.nextPoll) || (only != nil && !only[in.name]) {
			continue
		}
		wg.Add(1)
		go func(in *integration) {
			defer wg.Done()
			// A reload that removes or replaces the integration cancels its poll.
			pctx, cancel := in.pollContext(ctx)
			defer cancel()
			e.checkConnection(pctx, in)
			err := e.discover(pctx, in, nil)
			if pctx.Err() != nil {
				return // shutting down or retired: neither a failure nor a poll to count
			}
			if m := e.set.metrics; m != nil {
				in.ifActive(func() { m.ObservePoll(in.name, err) })
			}
			if err != nil {
				in.failures++
				delay := pollBackoff(e.set.pollInterval, in.failures)
				in.nextPoll = e.set.clock().Add(delay)
				e.log.Error("poll failed; retrying later", "integration", in.name, "error", err,
					"consecutive_failures", in.failures, "next_poll_in", delay.Round(time.Millisecond))
				return
			}
			in.failures, in.nextPoll = 0, time.Time{}
		}(in)
	}
	wg.Wait()
}

// discoverWithRetry retries a failed discovery a bounded number of times
// (--once and backfill have no next tick).
func (e *Engine) discoverWithRetry(ctx context.Context, in *integration, from *time.Time) error {
	var err error
	for attempt := 1; attempt <= e.set.retry.MaxAttempts; attempt++ {
		if err = e.discover(ctx, in, from); err == nil || ctx.Err() != nil {
			return err
		}
		if attempt == e.set.retry.MaxAttempts {
			break
		}
		d := e.set.retry.Backoff(attempt)
		e.log.Warn("discovery failed; retrying", "integration", in.name, "attempt", attempt, "in", d.Round(time.Millisecond), "error", err)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
	return err
}

func (e *Engine) workers() int { return max(1, e.cfg.Workers) }

// notify wakes the dispatcher (new pending work).
func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// maintain bounds what the engine keeps on disk: the layer cache (least recently
// used first) and the stored SBOMs every output has acknowledged (metadata stays:
// a new tag re-delivers metadata only, which directory and http outputs take;
// Dependency-Track needs the SBOM again for each new tag, so with it they stay).
func (e *Engine) maintain(ctx context.Context) {
	if n, freed, err := e.analyzer.PruneCache(e.set.cacheLimit); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("cannot prune the layer cache", "error", err)
	} else if n > 0 {
		e.log.Debug("pruned the layer cache", "blobs", n, "bytes", freed)
	}
	for _, o := range e.cfg.Outputs {
		if o.Type == config.OutputDependencyTrack {
			return
		}
	}
	if n, err := e.store.PruneDeliveredSBOMs(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("cannot prune delivered SBOMs", "error", err)
	} else if n > 0 {
		e.log.Debug("pruned delivered SBOMs", "documents", n)
	}
}

// Analysed returns how many times each digest was analysed by this Engine.
func (e *Engine) Analysed() map[string]int {
	e.analysedMu.Lock()
	defer e.analysedMu.Unlock()
	out := make(map[string]int, len(e.analysed))
	for k, v := range e.analysed {
		out[k] = v
	}
	return out
}

func (e *Engine) countAnalysed(digest string) {
	e.analysedMu.Lock()
	e.analysed[digest]++
	e.analysedMu.Unlock()
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
