// Package retry holds the one wait policy every imagewatch retry loop uses: capped exponential
// backoff with jitter, and the server's Retry-After when it sent one.
package retry

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter bounds what a Retry-After header is believed: a larger value is a server error.
const maxRetryAfter = 24 * time.Hour

// Jittered is the wait before retry number attempt (0-based): base*2^attempt capped at max, with
// "equal jitter" (uniform between half and all of it) so that clients failing together do not
// retry in lockstep, yet never retry at once.
func Jittered(base, max time.Duration, attempt int) time.Duration {
	if base <= 0 {
		return 0
	}
	d := max
	if attempt < 62 {
		if c := base << attempt; c > 0 && c < max {
			d = c
		}
	}
	half := d / 2
	return half + rand.N(d-half+1) //nolint:gosec // jitter, not security
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date relative to now (a date
// in the past means no wait). ok is false when the value is absent or malformed.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return min(time.Duration(secs)*time.Second, maxRetryAfter), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// HTTPBackoff is a go-retryablehttp Backoff: the response's Retry-After capped at max when there
// is one, otherwise Jittered.
func HTTPBackoff(base, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min(d, max)
		}
	}
	return Jittered(base, max, attempt)
}
