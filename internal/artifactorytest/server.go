package artifactorytest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/hashicorp/go-hclog"
)

// Context is the path under which the REST API is served.
const Context = "/artifactory"

// Built-in administrator credentials (see AdminUser).
const (
	AdminName     = "admin"
	AdminPassword = "password"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	listenAddr        string
	version           string
	anonymous         bool
	legacyMissingRepo bool
	pingValidates     bool
	clock             func() time.Time
	tz                *time.Location
	logger            hclog.Logger
	dockerTokenTTL    time.Duration
	aqlConcurrency    int
	aqlQueueWait      time.Duration
	faultSeed         int64
	lockoutAfter      int
	lockoutFor        time.Duration
}

// WithListenAddr sets the listen address (default 127.0.0.1:0).
func WithListenAddr(addr string) Option { return func(c *config) { c.listenAddr = addr } }

// WithVersion sets the Artifactory version reported by /api/system/version and
// the X-JFrog-Version header (numeric semver, e.g. "7.77.5").
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// WithAnonymousAccess enables anonymous access (off by default, as on SaaS).
// The anonymous user reads what Grant("anonymous", key) allows.
func WithAnonymousAccess(enabled bool) Option { return func(c *config) { c.anonymous = enabled } }

// WithLegacyMissingRepoStatus makes GET /api/repositories/{key} answer 400
// instead of 404 for a missing repository (older Artifactory versions).
func WithLegacyMissingRepoStatus() Option { return func(c *config) { c.legacyMissingRepo = true } }

// WithPingValidatesCredentials controls whether /api/system/ping rejects bad
// supplied credentials with 401 (default true; some 7.x versions answer OK).
func WithPingValidatesCredentials(validate bool) Option {
	return func(c *config) { c.pingValidates = validate }
}

// WithClock sets the server clock used for item timestamps, token expiry and
// request times. Timestamps are stored with millisecond precision.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithTimeZone sets the server time zone: dates are rendered in it and AQL
// dates without an offset are interpreted in it (default UTC).
func WithTimeZone(loc *time.Location) Option { return func(c *config) { c.tz = loc } }

// WithLogger sets the logger (default: discard).
func WithLogger(l hclog.Logger) Option { return func(c *config) { c.logger = l } }

// WithDockerTokenTTL sets the lifetime of tokens issued by the Docker token
// endpoint (default 3600s), so tests can force a token renewal.
func WithDockerTokenTTL(d time.Duration) Option { return func(c *config) { c.dockerTokenTTL = d } }

// WithAQLConcurrencyLimit limits parallel AQL queries like
// artifactory.aql.queries.limit: a query beyond the limit waits up to wait for
// a slot, then gets 429. 0 (default) means no limit.
func WithAQLConcurrencyLimit(limit int, wait time.Duration) Option {
	return func(c *config) { c.aqlConcurrency = limit; c.aqlQueueWait = wait }
}

// WithLoginLockout turns on brute-force protection: after `after`
// consecutive bad credentials from the same client (Basic username, else
// remote host) its requests get 403 "This request is blocked due to recurrent
// request failures, please try again in N second(s)" for `block`. Off by default.
func WithLoginLockout(after int, block time.Duration) Option {
	return func(c *config) { c.lockoutAfter, c.lockoutFor = after, block }
}

// WithFaultSeed seeds the deterministic generator behind Fault.Rate (default 1).
func WithFaultSeed(seed int64) Option { return func(c *config) { c.faultSeed = seed } }

// Server is the Artifactory double. All methods are safe for concurrent use.
type Server struct {
	cfg config
	log hclog.Logger

	mu           sync.Mutex
	users        map[string]*User // by name
	grants       map[string]map[string]bool
	tokens       map[string]*tokenInfo
	repos        map[string]*Repository
	repoOrder    []string
	stores       map[string]*repoStore // physical storage by repo key (local, federated, "<remote>-cache")
	uploadedBlob map[string]map[string]bool
	nextItemID   int64
	faults       []*faultState
	aqlDisabled  int
	requests     map[string]int
	lockouts     map[string]*lockout
	serviceID    string
	instanceID   string
	secret       []byte

	registry  http.Handler
	blobStore registry.BlobHandler
	aqlSlots  chan struct{}

	listener net.Listener
	httpSrv  *http.Server
	baseURL  string
	host     string
	closing  chan struct{}
	closed   bool
}

// New returns a Server that is not started yet.
func New(opts ...Option) *Server {
	cfg := config{
		listenAddr:     "127.0.0.1:0",
		version:        "7.77.5",
		pingValidates:  true,
		clock:          time.Now,
		tz:             time.UTC,
		dockerTokenTTL: time.Hour,
		aqlQueueWait:   10 * time.Second,
		faultSeed:      1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = hclog.NewNullLogger()
	}
	if cfg.tz == nil {
		cfg.tz = time.UTC
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.logger.Named("artifactorytest"),
		users:        map[string]*User{},
		grants:       map[string]map[string]bool{},
		tokens:       map[string]*tokenInfo{},
		repos:        map[string]*Repository{},
		stores:       map[string]*repoStore{},
		uploadedBlob: map[string]map[string]bool{},
		requests:     map[string]int{},
		lockouts:     map[string]*lockout{},
		closing:      make(chan struct{}),
		serviceID:    "01" + randomHex(12),
		instanceID:   randomHex(20),
		secret:       []byte(randomHex(32)),
	}
	s.users[AdminName] = &User{Name: AdminName, Password: AdminPassword, Admin: true}
	s.blobStore = registry.NewInMemoryBlobHandler()
	s.registry = registry.New(
		registry.WithBlobHandler(s.blobStore),
		registry.Logger(s.log.Named("registry").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Trace})),
	)
	if cfg.aqlConcurrency > 0 {
		s.aqlSlots = make(chan struct{}, cfg.aqlConcurrency)
	}
	return s
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.listenAddr)
	if err != nil {
		return fmt.Errorf("artifactorytest: listen on %s: %w", s.cfg.listenAddr, err)
	}
	s.mu.Lock()
	s.listener = ln
	s.host = ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		// Listening on all interfaces: advertise the loopback address.
		s.host = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	s.baseURL = "http://" + s.host
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	srv := s.httpSrv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "error", err)
		}
	}()
	return nil
}

// Close stops the server. Requests held by a hanging fault are released.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	srv := s.httpSrv
	s.mu.Unlock()
	if srv != nil {
		// Close (not Shutdown): connections a client opened but never used
		// would hold Shutdown for seconds. Hanging faults return on closing.
		_ = srv.Close()
	}
}

// URL is the platform URL, e.g. http://127.0.0.1:PORT (REST at URL()+"/artifactory").
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// RegistryHost is host:port for image references (repository-path method).
func (s *Server) RegistryHost() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

// BaseURL is the REST base, URL()+"/artifactory".
func (s *Server) BaseURL() string { return s.URL() + Context }

func (s *Server) now() time.Time { return s.cfg.clock().Truncate(time.Millisecond) }

// ServeHTTP routes a request. Exposed so the double can be mounted in another server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setCommonHeaders(w)

	p := r.URL.Path
	var rel string
	switch {
	case p == Context || strings.HasPrefix(p, Context+"/"):
		rel = strings.TrimPrefix(p, Context)
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		rel = p
	default:
		s.count("other")
		writeEnvelope(w, http.StatusNotFound, "Not Found")
		return
	}
	family := s.family(r, rel)
	s.count(family)
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "family", family)
	if s.applyFaults(w, r, rel) {
		return
	}

	switch {
	case strings.HasPrefix(rel, "/v2"):
		s.serveRepoPathDocker(w, r, rel)
	case strings.HasPrefix(rel, "/api/docker/"):
		s.serveAPIDocker(w, r, strings.TrimPrefix(rel, "/api/docker/"))
	case rel == "/api/system/ping":
		s.servePing(w, r)
	case rel == "/api/system/version":
		s.serveVersion(w, r)
	case rel == "/api/repositories" || rel == "/api/repositories/":
		s.serveRepositories(w, r)
	case strings.HasPrefix(rel, "/api/repositories/"):
		s.serveRepository(w, r, strings.TrimPrefix(rel, "/api/repositories/"))
	case rel == "/api/search/aql":
		s.serveAQL(w, r)
	case rel == "/api/storage" || strings.HasPrefix(rel, "/api/storage/"):
		s.serveStorage(w, r, strings.TrimPrefix(strings.TrimPrefix(rel, "/api/storage"), "/"))
	default:
		if _, ok := s.authenticateREST(w, r); !ok {
			return
		}
		writeEnvelope(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Artifactory-Id", s.instanceID)
	h.Set("X-Artifactory-Node-Id", "artifactory-primary")
	h.Set("X-JFrog-Version", "Artifactory/"+s.cfg.version+" "+s.revision())
}

func (s *Server) revision() string {
	var major, minor, patch int
	_, _ = fmt.Sscanf(s.cfg.version, "%d.%d.%d", &major, &minor, &patch)
	return fmt.Sprintf("%d%02d%02d900", major, minor, patch)
}

// family names the endpoint family a request belongs to, for Requests().
func (s *Server) family(r *http.Request, rel string) string {
	switch {
	case rel == "/api/system/ping":
		return "ping"
	case rel == "/api/system/version":
		return "version"
	case rel == "/api/repositories" || rel == "/api/repositories/":
		return "repositories"
	case strings.HasPrefix(rel, "/api/repositories/"):
		return "repository"
	case rel == "/api/search/aql":
		return "aql"
	case strings.HasPrefix(rel, "/api/storage"):
		return "storage"
	case strings.HasPrefix(rel, "/api/docker/") || strings.HasPrefix(rel, "/v2"):
		return "docker." + dockerFamily(rel)
	}
	return "other"
}

func dockerFamily(rel string) string {
	switch {
	case strings.HasSuffix(rel, "/v2/token") || rel == "/v2/token":
		return "token"
	case strings.HasSuffix(rel, "/_catalog"):
		return "catalog"
	case strings.HasSuffix(rel, "/tags/list"):
		return "tags"
	case strings.Contains(rel, "/blobs/uploads"):
		return "upload"
	case strings.Contains(rel, "/blobs/"):
		return "blob"
	case strings.Contains(rel, "/manifests/"):
		return "manifest"
	}
	return "ping"
}

func (s *Server) count(family string) {
	s.mu.Lock()
	s.requests[family]++
	if family == "repository" {
		s.requests["repositories"]++ // the whole /api/repositories family
	}
	s.mu.Unlock()
}

// Requests returns the number of requests received per endpoint family
// (counted before faults apply): ping, version, repositories (every
// /api/repositories request), repository (GET /api/repositories/{key} only),
// aql, storage, docker.ping, docker.token, docker.catalog, docker.tags,
// docker.manifest, docker.blob, docker.upload, other.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// ResetRequests zeroes the request counters.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.requests = map[string]int{}
	s.mu.Unlock()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
