package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/retry"
)

// userAgent is sent on registry pulls.
const userAgent = "imagewatch-engine"

// maxRetryAfter caps how long a registry's Retry-After may hold a request.
const maxRetryAfter = 30 * time.Second

// integration is the runtime state of one configured Artifactory integration.
type integration struct {
	name        string
	cfg         config.Integration
	fingerprint string
	client      *artifactory.Client
	filters     *artifactory.FilterSet
	log         hclog.Logger
	remoteOpts  []remote.Option
	nameOpts    []name.Option

	// Discovery state, touched only by the goroutine polling this integration.
	layout      *repoLayout
	cursorMod   time.Time // the cursor as this process last saw it
	cursorSince time.Time // our clock when it last moved
	failures    int
	nextPoll    time.Time
	notBefore   atomic.Int64 // unix ms: the registry asked us (429 Retry-After) to wait until then

	// Connection check (readiness): passed once stays passed for this
	// configuration; a changed configuration is a new integration, checked again.
	connMu     sync.Mutex
	connPassed bool
	connReason string // why the last check failed; "" before the first check

	// Retirement: closed when the integration is removed or replaced by a reload.
	retireMu    sync.Mutex
	retiredFlag bool
	retired     chan struct{}
}

func (e *Engine) newIntegration(ic config.Integration) (*integration, error) {
	log := e.log.Named("integration").With("integration", ic.Name)
	opts := append(ic.ClientOptions(), artifactory.WithLogger(log), artifactory.WithUserAgent(userAgent))
	if m := e.set.metrics; m != nil {
		// Innermost, below the client's retries and the TLS settings it keeps: every
		// attempt counts. Registry pulls share this transport (HTTPClient).
		opts = append(opts, artifactory.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
			return m.InstrumentTransport(ic.Name, rt)
		}))
	}
	opts = append(opts, e.set.clientOptions...)
	client, err := artifactory.New(ic.BaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("engine: integration %q: %w", ic.Name, err)
	}
	filters, err := artifactory.CompileFilters(ic.ImageFilters)
	if err != nil {
		return nil, fmt.Errorf("engine: integration %q: image_filters: %w", ic.Name, err)
	}
	in := &integration{
		name:        ic.Name,
		cfg:         ic,
		fingerprint: fingerprint(ic),
		client:      client,
		filters:     filters,
		log:         log,
		retired:     make(chan struct{}),
	}
	auth, err := registryAuth(ic)
	if err != nil {
		return nil, fmt.Errorf("engine: integration %q: %w", ic.Name, err)
	}
	var rt http.RoundTripper = client.HTTPClient().Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	rt = &retryAfterTransport{inner: rt, in: in, now: e.set.clock}
	if e.set.registryTransport != nil {
		rt = e.set.registryTransport(rt)
	}
	in.remoteOpts = []remote.Option{
		remote.WithAuth(auth),
		remote.WithTransport(rt),
		remote.WithUserAgent(userAgent),
		// Transient registry failures are retried per request here; the engine
		// retries the whole analysis (with a longer backoff) when these run out.
		remote.WithRetryBackoff(remote.Backoff{Duration: min(e.set.retry.Base, time.Second), Factor: 2, Jitter: 0.2, Steps: 5}),
	}
	if client.Endpoints().Insecure {
		in.nameOpts = append(in.nameOpts, name.Insecure)
	}
	return in, nil
}

// registryAuth maps the integration's credentials to what a Docker client sends:
// Basic for username+secret (the token dance then yields registry tokens, renewed
// by go-containerregistry on 401), the token itself as a Bearer registry token
// when there is no username.
func registryAuth(ic config.Integration) (authn.Authenticator, error) {
	c := ic.Credentials()
	switch c.Mode() {
	case artifactory.AuthBasic:
		return &authn.Basic{Username: c.Username, Password: c.Secret}, nil
	case artifactory.AuthBearer:
		return authn.FromConfig(authn.AuthConfig{RegistryToken: c.Secret}), nil
	case artifactory.AuthAPIKey:
		return nil, fmt.Errorf("a legacy API key cannot pull images without a username (Docker clients only send it as a password): set username")
	default:
		return authn.Anonymous, nil
	}
}

// fingerprint identifies an integration's configuration (secrets included, hashed)
// so a reload rebuilds only the integrations that changed.
func fingerprint(ic config.Integration) string {
	// A named field, not an embedded one: Integration's (redacting) MarshalJSON
	// would be promoted and drop the hashes.
	b, _ := json.Marshal(struct {
		Integration       config.Integration
		SecretHash        [32]byte
		WebhookSecretHash [32]byte
	}{ic, sha256.Sum256([]byte(ic.Secret)), sha256.Sum256([]byte(ic.WebhookSecret))})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// digestRef is the pullable reference of digest in repository/image.
func (in *integration) digestRef(repository, image, digest string) (name.Digest, error) {
	ref := artifactory.ImageReference(in.client.Endpoints().RegistryHost, repository, image, digest)
	return name.NewDigest(ref, in.nameOpts...)
}

// retryAfter is how long the registry asked us to wait, if it did recently.
func (in *integration) retryAfter(now time.Time) time.Duration {
	until := time.UnixMilli(in.notBefore.Load())
	if d := until.Sub(now); d > 0 {
		return d
	}
	return 0
}

// retryAfterTransport honours a registry's 429 Retry-After: it waits (bounded,
// ctx-aware) before handing the response to go-containerregistry's retry, and
// remembers the time so the engine's own retry of the analysis is not earlier.
type retryAfterTransport struct {
	inner http.RoundTripper
	in    *integration
	now   func() time.Time
}

func (t *retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	d, _ := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), t.now())
	if d <= 0 {
		return resp, nil
	}
	d = min(d, maxRetryAfter)
	t.in.notBefore.Store(t.now().Add(d).UnixMilli())
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
	case <-timer.C:
	}
	return resp, nil
}

// activeIntegrations returns the current integrations in configuration order.
func (e *Engine) activeIntegrations() []*integration {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*integration, 0, len(e.order))
	for _, n := range e.order {
		out = append(out, e.integrations[n])
	}
	return out
}

func (e *Engine) integration(name string) (*integration, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.integrations[name]
	return in, ok
}

// reloadIntegrations re-reads integrations_dir: new fragments start being
// watched, removed ones stop (a poll of theirs in flight is cancelled), changed
// ones get a new client. A fragment that no longer loads keeps its previous
// configuration. It returns the integrations added or changed, to poll now.
//
// It runs on every change the directory watcher sees and every poll interval,
// so warnings and errors are logged when they appear, not at every reload.
func (e *Engine) reloadIntegrations() (changed []string) {
	if e.cfg.IntegrationsDir == "" {
		return nil
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	all, warns, err := e.cfg.AllIntegrations()
	e.logConfigProblems(warns, err)
	e.mu.Lock()
	defer e.mu.Unlock()
	next := map[string]*integration{}
	var (
		order   []string
		retired []*integration
	)
	for _, ic := range all {
		cur, ok := e.integrations[ic.Name]
		fp := fingerprint(ic)
		if ok && cur.fingerprint == fp {
			next[ic.Name] = cur
			order = append(order, ic.Name)
			continue
		}
		in, nerr := e.newIntegration(ic)
		if nerr != nil {
			if e.rejected[ic.Name] != fp {
				e.log.Error("cannot use integration", "integration", ic.Name, "error", nerr)
				e.rejected[ic.Name] = fp
			}
			if !ok {
				continue
			}
			next[ic.Name] = cur
		} else {
			delete(e.rejected, ic.Name)
			if ok {
				e.log.Info("integration changed; reloaded", "integration", ic.Name)
				retired = append(retired, cur)
			} else {
				e.log.Info("integration added", "integration", ic.Name)
			}
			next[ic.Name] = in
			changed = append(changed, ic.Name)
		}
		order = append(order, ic.Name)
	}
	brokenFile, dirBroken := brokenFragments(e.cfg.IntegrationsDir, err)
	if !dirBroken {
		e.learnSources(all)
	}
	for _, n := range e.order {
		if _, ok := next[n]; ok {
			continue
		}
		if src, known := e.sources[n]; dirBroken || !known || brokenFile[src] {
			// Its fragment (or the directory) is broken, not gone: keep watching
			// it with its previous configuration rather than silently dropping it
			// (logConfigProblems said which file and why).
			next[n] = e.integrations[n]
			order = append(order, n)
			continue
		}
		e.log.Info("integration removed; no longer polled, its results are kept", "integration", n)
		e.integrations[n].retire()
		delete(e.rejected, n)
		delete(e.sources, n)
		if m := e.set.metrics; m != nil {
			// After retire: a poll finishing now no longer records into the metrics.
			m.ForgetIntegration(n)
		}
	}
	for _, in := range retired {
		in.retire()
	}
	e.integrations, e.order = next, order
	e.router.SetRoutes(webhookRoutes(e.integrations, e.order))
	return changed
}

// brokenFragments lists the fragment files err names. dirBroken is set when
// err is not only about fragment files (the directory is unreadable, a name
// clashes with an artifactory[] entry): then no integration can be told removed.
func brokenFragments(dir string, err error) (files map[string]bool, dirBroken bool) {
	if err == nil {
		return nil, false
	}
	list := config.Errors(err)
	if len(list) == 0 {
		return nil, true
	}
	files = map[string]bool{}
	for _, ce := range list {
		if ce.File == "" || filepath.Clean(ce.File) == filepath.Clean(dir) {
			return nil, true
		}
		files[filepath.Clean(ce.File)] = true
	}
	return files, false
}

// learnSources records which fragment file each integration came from, so a
// later reload can tell a removed fragment from a broken one.
func (e *Engine) learnSources(all []config.Integration) {
	if e.sources == nil {
		e.sources = map[string]string{}
	}
	for _, ic := range all {
		if ic.Source != "" {
			e.sources[ic.Name] = ic.Source
		}
	}
}

// logConfigProblems logs the warnings and errors of loading the integrations
// that were not in the previous load: a group-readable Secret mount is reported
// once, not at every reload; a fragment's problem is reported again when it
// changes or comes back.
func (e *Engine) logConfigProblems(warns []string, err error) {
	seen := make(map[string]bool, len(warns))
	for _, w := range warns {
		if !e.shownWarns[w] && !seen[w] {
			e.log.Warn(w)
		}
		seen[w] = true
	}
	e.shownWarns = seen

	errs := map[string]bool{}
	if err != nil {
		list := config.Errors(err)
		if len(list) == 0 {
			errs[err.Error()] = true
		}
		for _, ce := range list {
			errs[ce.Error()] = true
		}
	}
	for _, msg := range sortedKeys(errs) {
		if !e.shownErrs[msg] {
			e.log.Error("cannot load from integrations_dir; what it names is skipped, integrations loaded before keep their previous configuration", "error", msg)
		}
	}
	if len(errs) == 0 && len(e.shownErrs) > 0 {
		e.log.Info("integrations_dir: every fragment loads again")
	}
	e.shownErrs = errs
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// retire marks an integration removed or replaced by a new configuration: its
// poll in flight is cancelled and records nothing more.
func (in *integration) retire() {
	in.retireMu.Lock()
	defer in.retireMu.Unlock()
	if !in.retiredFlag {
		in.retiredFlag = true
		close(in.retired)
	}
}

// pollContext is ctx, also cancelled when the integration is retired.
func (in *integration) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-in.retired:
			cancel()
		case <-pctx.Done():
		}
	}()
	return pctx, cancel
}

// ifActive runs f unless the integration was retired, holding retirement off
// meanwhile (metrics of a removed integration are forgotten after retire).
func (in *integration) ifActive(f func()) {
	in.retireMu.Lock()
	defer in.retireMu.Unlock()
	if !in.retiredFlag {
		f()
	}
}
