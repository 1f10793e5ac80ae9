package artifactory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/retry"
)

// Defaults of a Client.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultRetryMax     = 4
	DefaultRetryWaitMin = 250 * time.Millisecond
	DefaultRetryWaitMax = 10 * time.Second
	DefaultUserAgent    = "imagewatch"

	// maxBodySize bounds a response body read into memory (AQL pages are far smaller).
	maxBodySize = 64 << 20
)

type options struct {
	creds        Credentials
	caFile       string
	skipVerify   bool
	timeout      time.Duration
	userAgent    string
	logger       hclog.Logger
	retryMax     int
	retryWaitMin time.Duration
	retryWaitMax time.Duration
	transport    http.RoundTripper
	wrap         func(http.RoundTripper) http.RoundTripper
}

// Option configures a Client.
type Option func(*options)

// WithCredentials sets the credentials; their Mode decides the header (DESIGN.md).
func WithCredentials(c Credentials) Option { return func(o *options) { o.creds = c } }

// WithCAFile trusts the PEM certificates in path in addition to the system pool.
func WithCAFile(path string) Option { return func(o *options) { o.caFile = path } }

// WithInsecureSkipVerify disables TLS certificate verification. Off by default.
func WithInsecureSkipVerify(skip bool) Option { return func(o *options) { o.skipVerify = skip } }

// WithTimeout bounds ONE call including all its retries (default 30s). 0 or less means no bound
// beyond the caller's context.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithLogger sets the logger; the client logs through l.Named("artifactory").
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRetry sets the number of retries after the first attempt and the wait bounds between them
// (default 4 retries, 250ms..10s). A Retry-After above maxWait is capped at maxWait.
func WithRetry(max int, minWait, maxWait time.Duration) Option {
	return func(o *options) {
		o.retryMax, o.retryWaitMin, o.retryWaitMax = max, minWait, maxWait
	}
}

// WithHTTPTransport replaces the transport (tests, metrics wrapping). The CA file and TLS skip
// options then only affect TLSConfig(); the given transport is used as is.
func WithHTTPTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithTransportWrapper wraps the client's transport (metrics, tracing) while keeping the CA file
// and TLS skip settings, which WithHTTPTransport would replace.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.wrap = wrap }
}

// Client is the one Artifactory client. It is safe for concurrent use.
type Client struct {
	endpoints Endpoints
	opts      options
	tlsConfig *tls.Config
	plain     *http.Client // TLS settings, no retry, no auth: for registry pulls
	retry     *retryablehttp.Client
	logger    hclog.Logger
}

// New builds a client for the Artifactory at rawURL. It does no network I/O.
func New(rawURL string, opts ...Option) (*Client, error) {
	ep, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	o := options{
		timeout:      DefaultTimeout,
		userAgent:    DefaultUserAgent,
		retryMax:     DefaultRetryMax,
		retryWaitMin: DefaultRetryWaitMin,
		retryWaitMax: DefaultRetryWaitMax,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.retryMax < 0 {
		o.retryMax = 0
	}
	if o.retryWaitMin <= 0 {
		o.retryWaitMin = time.Millisecond
	}
	if o.retryWaitMax < o.retryWaitMin {
		o.retryWaitMax = o.retryWaitMin
	}
	if strings.ContainsAny(o.creds.Secret, "\r\n") || strings.ContainsAny(o.creds.Username, "\r\n:") {
		return nil, errors.New("credentials contain a line break (or the username a ':'): check the username and secret for stray characters")
	}
	logger := o.logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("artifactory")

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.skipVerify} //nolint:gosec // explicit opt-in
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found; give a file with -----BEGIN CERTIFICATE----- blocks", o.caFile)
		}
		tlsConfig.RootCAs = pool
	}

	rt := o.transport
	if rt == nil {
		rt = newTransport(tlsConfig)
	}
	if o.wrap != nil {
		rt = o.wrap(rt)
	}
	plain := &http.Client{Transport: rt, CheckRedirect: checkRedirect}

	rc := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: rt, CheckRedirect: checkRedirect},
		Logger:       logger,
		RetryWaitMin: o.retryWaitMin,
		RetryWaitMax: o.retryWaitMax,
		RetryMax:     o.retryMax,
		CheckRetry:   retryPolicy(o.retryWaitMax),
		Backoff:      retry.HTTPBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return &Client{endpoints: ep, opts: o, tlsConfig: tlsConfig, plain: plain, retry: rc, logger: logger}, nil
}

func newTransport(tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConfig.Clone(),
	}
}

// checkRedirect drops credentials when a redirect leaves the host: Go strips Authorization
// itself, but not the X-JFrog-Art-Api header.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del(HeaderAPIKey)
		req.Header.Del("Authorization")
	}
	return nil
}

// Endpoints returns the URLs derived from the configured URL.
func (c *Client) Endpoints() Endpoints {
	ep := c.endpoints
	p, r := *ep.Platform, *ep.REST
	ep.Platform, ep.REST = &p, &r
	return ep
}

// Credentials returns the configured credentials (for registry pulls with the same identity).
func (c *Client) Credentials() Credentials { return c.opts.creds }

// HTTPClient returns an http.Client with the TLS settings applied and no retry or auth, for
// go-containerregistry / syft registry pulls (they do their own auth and retry).
func (c *Client) HTTPClient() *http.Client { return c.plain }

// TLSConfig returns a copy of the TLS configuration (CA file, skip verify).
func (c *Client) TLSConfig() *tls.Config { return c.tlsConfig.Clone() }

// Timeout returns the per-call timeout (for messages that name it).
func (c *Client) Timeout() time.Duration { return c.opts.timeout }

// request is one call below the REST base.
type request struct {
	method      string
	path        string // escaped, below REST base, starting with "/"
	query       url.Values
	body        []byte
	contentType string
	accept      string
}

// response is a successful (2xx/3xx) answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r with retries under the client timeout and returns the answer, an *Error for an
// HTTP error status, or a *transportError when no answer came.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	if ctx == nil {
		return nil, errors.New("artifactory: nil context")
	}
	if c.opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.opts.timeout, errClientTimeout)
		defer cancel()
	}
	u := *c.endpoints.REST
	u.RawPath = ""
	full := u.String() + r.path
	display := full
	if len(r.query) > 0 {
		full += "?" + r.query.Encode()
	}
	var body any
	if r.body != nil {
		body = r.body
	}
	attempts := &lastAttempt{}
	ctx = context.WithValue(ctx, lastAttemptKey{}, attempts)
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, full, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("User-Agent", c.opts.userAgent)
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	c.opts.creds.apply(req.Request)

	resp, err := c.retry.Do(req)
	if err != nil {
		return nil, c.transportErr(ctx, r.method, display, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return nil, c.transportErr(ctx, r.method, display, err)
	}
	if len(data) > maxBodySize {
		return nil, fmt.Errorf("%s %s: response larger than %d bytes", r.method, r.path, maxBodySize)
	}
	if resp.StatusCode >= 400 {
		e := newError(r.method, r.path, resp.StatusCode, resp.Header, data, c.opts.creds.Secret)
		c.logger.Debug("request failed", "method", r.method, "endpoint", r.path, "status", resp.StatusCode, "message", e.Message)
		return nil, e
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// lastAttempt keeps the network error of the latest attempt, so that a call whose deadline
// expires while waiting to retry still says why the attempts failed (e.g. connection refused).
type lastAttempt struct{ err error }

type lastAttemptKey struct{}

func (c *Client) transportErr(ctx context.Context, method, u string, err error) error {
	te := &transportError{Method: method, URL: u, Timeout: c.opts.timeout, Err: err}
	if la, ok := ctx.Value(lastAttemptKey{}).(*lastAttempt); ok && la.err != nil {
		te.last = la.err
	}
	if errors.Is(context.Cause(ctx), errClientTimeout) {
		te.timeout = true
		if !errors.Is(err, context.DeadlineExceeded) {
			te.Err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
	}
	c.logger.Debug("request got no answer", "method", method, "url", u, "error", te.Error())
	return te
}

// retryPolicy retries 429, 5xx except 501, timeouts and connection errors (retryablehttp's base
// policy), never after the caller's context ended, and not when the wait the server asks for
// (capped at maxWait) outlasts the call's deadline: the 429 is then returned with its RetryAfter.
func retryPolicy(maxWait time.Duration) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if la, ok := ctx.Value(lastAttemptKey{}).(*lastAttempt); ok && err != nil {
			la.err = err
		}
		again, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		if !again || resp == nil {
			return again, nil
		}
		if d, ok := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			if d > maxWait {
				d = maxWait
			}
			if deadline, has := ctx.Deadline(); has && time.Until(deadline) < d {
				return false, nil
			}
		}
		return true, nil
	}
}

// escapePath escapes each '/'-separated segment of p.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// get GETs path, accepting JSON.
func (c *Client) get(ctx context.Context, path string, query url.Values) (*response, error) {
	return c.do(ctx, request{method: http.MethodGet, path: path, query: query, accept: "application/json"})
}
