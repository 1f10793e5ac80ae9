package artifactory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/retry"
)

// Error is an HTTP error answer from Artifactory.
type Error struct {
	StatusCode int
	Method     string
	Endpoint   string // path below the Artifactory base, never query or credentials, e.g. "/api/repositories/docker-local"
	Message    string // the server's message (generic envelope, Docker error format, or text body)
	Code       string // Docker registry error code (MANIFEST_UNKNOWN, ...) when the body used that format
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Endpoint, e.StatusCode, msg)
}

// StatusCode returns the HTTP status of an *Error in err's chain, 0 if there is none.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// legacyNotFound matches the 400 answers older Artifactory gives for missing repositories.
var legacyNotFound = regexp.MustCompile(`(?i)not (be )?found|does not exist|doesn't exist|unsupported docker (v2 )?repository request`)

// IsNotFound reports a 404, or a 400 whose message says the thing does not exist (legacy repositories API).
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == http.StatusNotFound ||
		(e.StatusCode == http.StatusBadRequest && legacyNotFound.MatchString(e.Message))
}

// IsUnauthorized reports a 401 (bad, expired or missing credentials).
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports a 403 (authenticated but not permitted, or blocked).
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// maxMessageLen bounds how much of an error body ends up in a message.
const maxMessageLen = 512

// newError builds an *Error from a response, taking the message from whichever error format the body uses.
func newError(method, endpoint string, status int, header http.Header, body []byte, secret string) *Error {
	e := &Error{StatusCode: status, Method: method, Endpoint: endpoint}
	e.Message, e.Code = parseErrorBody(header.Get("Content-Type"), body)
	if secret != "" && len(secret) >= 4 {
		e.Message = strings.ReplaceAll(e.Message, secret, "[REDACTED]")
	}
	if d, ok := retry.ParseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	return e
}

// parseErrorBody reads {"errors":[{"status","message"}]}, {"errors":[{"code","message","detail"}]},
// {"message":...}, HTML (its title) or plain text.
func parseErrorBody(contentType string, body []byte) (message, code string) {
	text := strings.TrimSpace(string(body))
	if text == "" {
		return "", ""
	}
	if strings.HasPrefix(text, "{") {
		var env struct {
			Errors []struct {
				Code    string          `json:"code"`
				Message string          `json:"message"`
				Detail  json.RawMessage `json:"detail"`
			} `json:"errors"`
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(body, &env) == nil {
			var msgs []string
			for _, e := range env.Errors {
				m := strings.TrimSpace(e.Message)
				if e.Code != "" {
					if code == "" {
						code = e.Code
					}
					if m == "" {
						m = e.Code
					} else {
						m = e.Code + ": " + m
					}
				}
				if m != "" {
					msgs = append(msgs, m)
				}
			}
			switch {
			case len(msgs) > 0:
				return truncate(strings.Join(msgs, "; ")), code
			case env.Message != "":
				return truncate(env.Message), ""
			case env.Error != "":
				return truncate(env.Error), ""
			}
		}
	}
	if strings.Contains(contentType, "html") || strings.HasPrefix(strings.ToLower(text), "<!doctype html") || strings.HasPrefix(strings.ToLower(text), "<html") {
		if m := htmlTitle.FindStringSubmatch(text); m != nil {
			return truncate("HTML page: " + strings.TrimSpace(m[1])), ""
		}
		return "HTML page (not an Artifactory API answer)", ""
	}
	return truncate(strings.Join(strings.Fields(text), " ")), ""
}

var htmlTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

func truncate(s string) string {
	if len(s) <= maxMessageLen {
		return s
	}
	return s[:maxMessageLen] + "…"
}

// errClientTimeout is the cause set on a call's context when WithTimeout expires.
var errClientTimeout = errors.New("client timeout")

// transportError is a request that got no HTTP answer: connection refused, DNS, TLS, timeout.
type transportError struct {
	Method  string
	URL     string // scheme://host/path, no query
	Timeout time.Duration
	timeout bool  // the client's WithTimeout expired
	last    error // the latest attempt's network error, when the deadline ended the retries
	Err     error
}

func (e *transportError) Error() string {
	if e.timeout {
		msg := fmt.Sprintf("%s %s: no response within %s (request timeout)", e.Method, e.URL, e.Timeout)
		if e.last != nil && !errors.Is(e.last, context.DeadlineExceeded) {
			msg += "; last attempt: " + describeTransport(e.last)
		}
		return msg
	}
	return fmt.Sprintf("%s %s: %s", e.Method, e.URL, describeTransport(e.Err))
}

func (e *transportError) Unwrap() error { return e.Err }

// IsUnreachable reports an error where the server gave no HTTP answer (network error or timeout).
func IsUnreachable(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

// describeTransport gives the innermost cause of a network error, without the URL url.Error repeats.
func describeTransport(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %q: %v", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &opErr):
		return opErr.Error()
	}
	return err.Error()
}
