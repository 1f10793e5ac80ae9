package artifactorytest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestFaultStatusRetryAfterAndCount(t *testing.T) {
	s := NewTest(t)
	s.SetFault(Fault{Path: "/api/system/version", Status: 429, RetryAfter: 1500 * time.Millisecond, Count: 2})
	url := s.BaseURL() + "/api/system/version"
	for i := 0; i < 2; i++ {
		r := call(t, "GET", url, "", admin)
		expect(t, r, 429, envelope(429, "Too Many Requests"))
		if r.header.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	if r := call(t, "GET", url, "", admin); r.status != 200 {
		t.Fatalf("fault should expire after Count: %d", r.status)
	}
	// Other paths are untouched; the /artifactory prefix in Path is optional.
	s.SetFault(Fault{Path: "/artifactory/api/search/aql", Status: 503})
	if r := call(t, "GET", s.BaseURL()+"/api/system/ping", "", nil); r.status != 200 {
		t.Fatalf("ping hit by aql fault: %d", r.status)
	}
	if r := call(t, "POST", s.BaseURL()+"/api/search/aql", "items.find()", admin); r.status != 503 {
		t.Fatalf("aql fault: %d", r.status)
	}
	if s.Requests()["aql"] != 1 || s.Requests()["version"] != 3 {
		t.Fatalf("requests %v", s.Requests())
	}
	s.ClearFaults()
	if r := call(t, "POST", s.BaseURL()+"/api/search/aql", "items.find()", admin); r.status != 200 {
		t.Fatalf("after ClearFaults: %d", r.status)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Fatal("ResetRequests")
	}
}

func TestFaultRateIsDeterministic(t *testing.T) {
	pattern := func() string {
		s := NewTest(t, WithFaultSeed(42))
		s.SetFault(Fault{Status: 500, Rate: 0.5})
		out := ""
		for i := 0; i < 40; i++ {
			if call(t, "GET", s.BaseURL()+"/api/system/ping", "", nil).status == 500 {
				out += "x"
			} else {
				out += "."
			}
		}
		return out
	}
	a, b := pattern(), pattern()
	if a != b {
		t.Fatalf("same seed, different patterns:\n%s\n%s", a, b)
	}
	hits := 0
	for _, c := range a {
		if c == 'x' {
			hits++
		}
	}
	if hits < 10 || hits > 30 {
		t.Fatalf("rate 0.5 hit %d/40: %s", hits, a)
	}
}

func TestFaultLatencyAndHang(t *testing.T) {
	s := NewTest(t)
	s.SetFault(Fault{Path: "/api/system/ping", Latency: 150 * time.Millisecond, Count: 1})
	start := time.Now()
	if r := call(t, "GET", s.BaseURL()+"/api/system/ping", "", nil); r.status != 200 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("latency fault: %d after %v", r.status, time.Since(start))
	}

	s.SetFault(Fault{Path: "/api/system/version", Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.BaseURL()+"/api/system/version", nil)
	start = time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("hang: %v after %v", err, time.Since(start))
	}

	// A request still hanging does not block Close.
	hung := New()
	if err := hung.Start(); err != nil {
		t.Fatal(err)
	}
	hung.SetFault(Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := http.Get(hung.BaseURL() + "/api/system/ping")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { hung.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close blocked by a hanging request")
	}
	if err := <-done; err == nil {
		t.Fatal("hung request should fail when the server closes")
	}
}

func TestConcurrentPushesAndQueries(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			img := randomImage(t)
			if _, err := s.PushImage(ctx, "docker-local", fmt.Sprintf("app%d", i%3), fmt.Sprint(i), img); err != nil {
				errs <- err
			}
		}(i)
		go func() {
			defer wg.Done()
			r := call(t, "POST", s.BaseURL()+"/api/search/aql", `items.find({"name":"manifest.json"})`, admin)
			if r.status != 200 {
				errs <- fmt.Errorf("aql %d", r.status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res := aql(t, s, admin, `items.find({"name":"manifest.json"})`)
	if len(res.Results) != 8 {
		t.Fatalf("manifests after concurrent pushes: %d", len(res.Results))
	}
}

func TestAQLConcurrencyLimit(t *testing.T) {
	s := NewTest(t, WithAQLConcurrencyLimit(1, 50*time.Millisecond))
	s.aqlSlots <- struct{}{} // a query in flight holds the only slot
	r := call(t, "POST", s.BaseURL()+"/api/search/aql", "items.find()", admin)
	expect(t, r, 429, envelope(429, "Too Many Requests"))
	<-s.aqlSlots
	if r := call(t, "POST", s.BaseURL()+"/api/search/aql", "items.find()", admin); r.status != 200 {
		t.Fatalf("after release: %d", r.status)
	}
}
