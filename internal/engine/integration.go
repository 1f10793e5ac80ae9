package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
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
// watched, removed ones stop, changed ones get a new client. A fragment that no
// longer loads keeps its previous configuration (the error is logged).
func (e *Engine) reloadIntegrations() {
	if e.cfg.IntegrationsDir == "" {
		return
	}
	all, warns, err := e.cfg.AllIntegrations()
	for _, w := range warns {
		e.log.Warn(w)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	next := map[string]*integration{}
	var order []string
	for _, ic := range all {
		if cur, ok := e.integrations[ic.Name]; ok && cur.fingerprint == fingerprint(ic) {
			next[ic.Name] = cur
		} else {
			in, nerr := e.newIntegration(ic)
			if nerr != nil {
				e.log.Error("cannot use integration", "integration", ic.Name, "error", nerr)
				if ok {
					next[ic.Name] = cur
				} else {
					continue
				}
			} else {
				if ok {
					e.log.Info("integration changed; reloaded", "integration", ic.Name)
				} else {
					e.log.Info("integration added", "integration", ic.Name)
				}
				next[ic.Name] = in
			}
		}
		order = append(order, ic.Name)
	}
	if err != nil {
		// Keep watching integrations whose fragment broke rather than silently dropping them.
		e.log.Error("integrations_dir has errors; keeping the previous configuration of broken fragments", "error", err)
		for _, n := range e.order {
			if _, ok := next[n]; !ok {
				next[n] = e.integrations[n]
				order = append(order, n)
			}
		}
	} else {
		for _, n := range e.order {
			if _, ok := next[n]; !ok {
				e.log.Info("integration removed; no longer polled, its results are kept", "integration", n)
				if m := e.set.metrics; m != nil {
					m.ForgetIntegration(n)
				}
			}
		}
	}
	e.integrations, e.order = next, order
	e.router.SetRoutes(webhookRoutes(e.integrations, e.order))
}
