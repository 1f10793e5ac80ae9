// Package server is the engine's HTTP server on `listen`: health and readiness,
// Prometheus metrics, the inventory API and the Artifactory webhook receiver.
//
// Routes:
//
//	GET  /healthz               200 "ok" while the process serves
//	GET  /readyz                200 "ready", or 503 with the reason
//	GET  /metrics               Prometheus exposition (WithMetrics)
//	GET  /api/v1/images         inventory JSON (WithInventory), optional bearer token
//	POST /webhooks/artifactory  Docker "pushed" webhook -> immediate poll (WithWebhooks)
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/api"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/inventory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/metrics"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// Timeouts of the http.Server. Writes may take a while for a 1000-row inventory
// page or a scrape; headers must come quickly (slowloris).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// ShutdownTimeout bounds the graceful shutdown once Serve's ctx is cancelled
	// (the engine must exit within 10s of SIGTERM).
	ShutdownTimeout = 5 * time.Second
)

// Inventory lists what the engine discovered (*store.Store implements it).
type Inventory interface {
	Inventory(ctx context.Context, f store.ListFilter) ([]store.InventoryItem, error)
}

// PlatformLister is optionally implemented by an Inventory (*store.Store does)
// to list the platform manifests of an index in the inventory's rows.
type PlatformLister interface {
	Platforms(ctx context.Context, index string) ([]store.Analysis, error)
}

// SBOMLocator says where the SBOMs of an analysed manifest digest are:
// format name ("cyclonedx-json") -> path or URL. nil or empty when unknown.
type SBOMLocator func(digest string) map[string]string

// WebhookRouter maps a webhook to the integration that watches its repository.
type WebhookRouter interface {
	// Route returns the integration watching repoKey on the Artifactory whose
	// platform URL is origin (the webhook's jpd_origin; may be empty) and that
	// integration's webhook secret. ok is false when no integration watches it.
	Route(repoKey, origin string) (integration string, secret string, ok bool)
	// Trigger asks for an immediate poll of integration. It must not block:
	// triggers coalesce, and the poll decides what is analysed.
	Trigger(integration string)
}

// Server is the engine's HTTP server. Build it with New.
type Server struct {
	log       hclog.Logger
	inventory Inventory
	metrics   *metrics.Metrics
	ready     func() (bool, string)
	token     [sha256.Size]byte // sha256 of the inventory token, so the compare is constant-time whatever its length
	hasToken  bool
	webhooks  WebhookRouter
	sboms     SBOMLocator
	locator   inventory.Locator
	handler   http.Handler
}

// Option configures New.
type Option func(*Server)

// WithLogger sets the logger (a Named("server") sub-logger is used).
func WithLogger(l hclog.Logger) Option { return func(s *Server) { s.log = l } }

// WithInventory serves /api/v1/images from inv.
func WithInventory(inv Inventory) Option { return func(s *Server) { s.inventory = inv } }

// WithMetrics serves /metrics from m and counts webhooks in it.
func WithMetrics(m *metrics.Metrics) Option { return func(s *Server) { s.metrics = m } }

// WithReadiness sets what /readyz reports. Without it /readyz answers like /healthz.
func WithReadiness(ready func() (ok bool, reason string)) Option {
	return func(s *Server) { s.ready = ready }
}

// WithInventoryToken requires "Authorization: Bearer <token>" on /api/v1/images.
// An empty token leaves the inventory open (bind `listen` to localhost then).
func WithInventoryToken(token string) Option {
	return func(s *Server) {
		s.hasToken = token != ""
		s.token = sha256.Sum256([]byte(token))
	}
}

// WithWebhooks serves /webhooks/artifactory, routing through router.
func WithWebhooks(router WebhookRouter) Option { return func(s *Server) { s.webhooks = router } }

// WithSBOMLocator fills the inventory's "sboms" from locate.
func WithSBOMLocator(locate SBOMLocator) Option { return func(s *Server) { s.sboms = locate } }

// WithLocator fills the inventory's "sboms" from locate, which takes the
// request's context and may fail (a failure answers 500), e.g. the SBOMs
// delivered to a directory output: inventory.NewDirectory(dir, formats, st).SBOMs.
// It takes precedence over WithSBOMLocator.
func WithLocator(locate inventory.Locator) Option { return func(s *Server) { s.locator = locate } }

// New returns a server; it listens only when Serve is called.
func New(opts ...Option) *Server {
	s := &Server{log: hclog.NewNullLogger()}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.Named("server")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	mux.HandleFunc("GET /api/v1/images", s.images)
	if s.webhooks != nil {
		mux.HandleFunc("POST /webhooks/artifactory", s.webhook)
	}
	s.handler = s.logRequests(mux)
	return s
}

// Handler is the server's routes (for tests, or to mount elsewhere).
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on addr (host:port) and serves until ctx is cancelled.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s (config key \"listen\"): %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// in-flight requests get up to ShutdownTimeout, after which connections are
// closed. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
	}
	s.log.Info("serving", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		_ = hs.Close()
		err = fmt.Errorf("server: graceful shutdown: %w", err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("server: %w", serr)
	}
	s.log.Info("stopped")
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.ready == nil {
		writeText(w, http.StatusOK, "ready")
		return
	}
	if ok, reason := s.ready(); !ok {
		if reason == "" {
			reason = "not ready"
		}
		writeText(w, http.StatusServiceUnavailable, "not ready: "+reason)
		return
	}
	writeText(w, http.StatusOK, "ready")
}

// authorized checks the inventory bearer token; on failure it has answered 401.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !s.hasToken {
		return true
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !strings.EqualFold(scheme, "Bearer") || cred == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="imagewatch"`)
		writeError(w, http.StatusUnauthorized, "", "a bearer token is required: send Authorization: Bearer <api token>")
		return false
	}
	got := sha256.Sum256([]byte(cred))
	if subtle.ConstantTimeCompare(got[:], s.token[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="imagewatch", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "", "the bearer token is not valid")
		return false
	}
	return true
}

// statusRecorder keeps the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs each request at debug level: path only, never the query,
// headers or body (they may carry tokens or webhook secrets).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if s.log.IsDebug() {
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
		}
	})
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// errorBody is every JSON error.
type errorBody = api.Error

func writeError(w http.ResponseWriter, status int, parameter, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Parameter: parameter})
}
