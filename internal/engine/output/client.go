package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/retry"
)

type options struct {
	logger    hclog.Logger
	retryMax  int
	waitMin   time.Duration
	waitMax   time.Duration
	timeout   time.Duration
	transport http.RoundTripper
	userAgent string
}

// Option configures an output.
type Option func(*options)

// WithLogger sets the parent logger; outputs log through a Named sub-logger.
func WithLogger(l hclog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithRetry bounds the retries of one delivery request: at most max retries,
// waits growing exponentially from minWait, capped at maxWait (a server's
// Retry-After is honoured up to maxWait). Default 4 retries, 500ms..30s.
func WithRetry(max int, minWait, maxWait time.Duration) Option {
	return func(o *options) { o.retryMax, o.waitMin, o.waitMax = max, minWait, maxWait }
}

// WithTimeout bounds one HTTP attempt (default 60s). The whole delivery is bounded by ctx.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithTransport sets the HTTP transport (custom TLS, tests, metrics).
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

func buildOptions(opts []Option) options {
	o := options{
		logger:    hclog.NewNullLogger(),
		retryMax:  4,
		waitMin:   500 * time.Millisecond,
		waitMax:   30 * time.Second,
		timeout:   60 * time.Second,
		userAgent: "imagewatch-engine",
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.retryMax < 0 {
		o.retryMax = 0
	}
	if o.waitMax < o.waitMin {
		o.waitMax = o.waitMin
	}
	return o
}

// remote is the HTTP plumbing shared by the http and dependency_track outputs.
type remote struct {
	name    string
	client  *retryablehttp.Client
	ua      string
	secrets []string
	log     hclog.Logger
}

func newRemote(name string, o options, log hclog.Logger, secrets ...string) *remote {
	transport := o.transport
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: transport, Timeout: o.timeout}
	c.Logger = log // hclog.Logger is a retryablehttp.LeveledLogger; it never sees headers
	c.RetryMax = o.retryMax
	c.RetryWaitMin = o.waitMin
	c.RetryWaitMax = o.waitMax
	c.Backoff = retry.HTTPBackoff
	c.CheckRetry = checkRetry
	// Keep the last response when retries run out, to report its status and body.
	c.ErrorHandler = func(resp *http.Response, err error, attempts int) (*http.Response, error) {
		return resp, &gaveUp{err: err, attempts: attempts}
	}
	return &remote{name: name, client: c, ua: o.userAgent, secrets: secrets, log: log}
}

type gaveUp struct {
	err      error
	attempts int
}

func (g *gaveUp) Error() string {
	if g.err != nil {
		return g.err.Error()
	}
	return fmt.Sprintf("gave up after %d attempts", g.attempts)
}

// checkRetry retries what retryablehttp does (connection errors, 429, 5xx but 501)
// plus 408, and never after the context ended.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err == nil && resp != nil && resp.StatusCode == http.StatusRequestTimeout {
		return true, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// do sends one request (retried as configured) and returns nil on 2xx; otherwise
// an *Error with the status, a body excerpt and no secret. ok2xx receives the
// successful response body (may be nil).
func (r *remote) do(ctx context.Context, method, target string, body []byte, header http.Header, onSuccess func(*http.Response) error) error {
	req, err := retryablehttp.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return &Error{Output: r.name, Method: method, URL: redactURL(target), Message: "invalid request", secrets: r.secrets}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", r.ua)
	resp, err := r.client.Do(req)
	attempts := 1
	var g *gaveUp
	if errors.As(err, &g) {
		attempts, err = g.attempts, g.err
	}
	if resp == nil {
		if err == nil {
			err = errors.New("no response")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Output: r.name, Method: method, URL: redactURL(target), Message: transportMessage(err),
			Attempts: attempts, err: err, secrets: r.secrets}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if onSuccess != nil {
			return onSuccess(resp)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	return &Error{Output: r.name, Method: method, URL: redactURL(target), StatusCode: resp.StatusCode,
		Message: bodyExcerpt(resp.Body), Attempts: attempts, secrets: r.secrets}
}

// transportMessage drops the URL a *url.Error repeats (it may carry userinfo).
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}

// redactURL keeps scheme, host and path: userinfo and query may hold credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

const excerptLen = 200

// bodyExcerpt returns the start of a response body on one line, printable only.
func bodyExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4*excerptLen))
	s := strings.Map(func(c rune) rune {
		if unicode.IsSpace(c) {
			return ' '
		}
		if !unicode.IsPrint(c) {
			return -1
		}
		return c
	}, string(bytes.ToValidUTF8(b, nil)))
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > excerptLen {
		s = string([]rune(s)[:excerptLen]) + "…"
	}
	return s
}

// parseEndpoint checks a configured base URL.
func parseEndpoint(kind, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s output: url is empty: set outputs[].url", kind)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s output: url %q is not a URL", kind, redactURL(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s output: url %s must use http or https", kind, redactURL(raw))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s output: url %s has no host", kind, redactURL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s output: url %s must not contain credentials: use the token / api_key settings", kind, redactURL(raw))
	}
	return u, nil
}
