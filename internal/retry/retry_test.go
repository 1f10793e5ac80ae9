package retry

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v,%v want %v,%v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJitteredIsCappedExponentialWithEqualJitter(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	for attempt := 0; attempt < 70; attempt++ {
		ceiling := limit
		if attempt < 4 {
			ceiling = base << attempt
		}
		lo, hi := ceiling, time.Duration(0)
		for i := 0; i < 300; i++ {
			d := Jittered(base, limit, attempt)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("attempt %d: %v outside [%v,%v]", attempt, d, ceiling/2, ceiling)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if hi-lo < ceiling/8 { // 300 draws from a uniform range: spread is certain to be this wide
			t.Fatalf("attempt %d: no jitter, draws within [%v,%v]", attempt, lo, hi)
		}
	}
	if d := Jittered(0, limit, 3); d != 0 {
		t.Errorf("zero base waited %v", d)
	}
}

func TestHTTPBackoffHonoursRetryAfterCapped(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"3"}}}
	if d := HTTPBackoff(base, 10*time.Second, 0, resp); d != 3*time.Second {
		t.Errorf("Retry-After 3 -> %v", d)
	}
	if d := HTTPBackoff(base, limit, 0, resp); d != limit {
		t.Errorf("Retry-After above max -> %v, want %v", d, limit)
	}
	plain := &http.Response{StatusCode: 503, Header: http.Header{}}
	if d := HTTPBackoff(base, limit, 2, plain); d < 200*time.Millisecond || d > 400*time.Millisecond {
		t.Errorf("no Retry-After -> %v, want jittered 400ms", d)
	}
}
