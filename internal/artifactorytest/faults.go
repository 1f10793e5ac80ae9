package artifactorytest

import (
	"math"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests fail, slow down or hang.
type Fault struct {
	// Path is a prefix of the request path after the /artifactory context
	// (e.g. "/api/search/aql", "/api/docker/docker-local/v2/"); repository-path
	// Docker requests match on "/v2/...". "" matches every request.
	Path string
	// Status is the status to answer with (e.g. 429, 503); 0 = serve normally
	// after Latency (a pure latency fault).
	Status int
	// Rate is the probability (0..1) a matching request is hit, drawn from a
	// generator seeded by WithFaultSeed so runs are deterministic; 0 = every request.
	Rate float64
	// Count is how many requests the fault hits before it expires; 0 = unlimited.
	Count int
	// RetryAfter adds a Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration
	// Latency delays the request (before answering Status or serving it).
	Latency time.Duration
	// Hang holds the request until the client gives up or the server closes;
	// no response is written.
	Hang bool
	// Message overrides the envelope message (default: the status text).
	Message string
}

type faultState struct {
	f    Fault
	rng  *rand.Rand
	hits int
}

// SetFault adds a fault. Faults are checked in the order they were set; the
// first that hits a request applies.
func (s *Server) SetFault(f Fault) {
	f.Path = strings.TrimPrefix(f.Path, Context)
	s.mu.Lock()
	defer s.mu.Unlock()
	seed := s.cfg.faultSeed + int64(len(s.faults))
	s.faults = append(s.faults, &faultState{f: f, rng: rand.New(rand.NewSource(seed))}) //nolint:gosec // deterministic on purpose
}

// ClearFaults removes every fault (not DisableAQL).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// FaultHits returns how many requests the faults have hit in total.
func (s *Server) FaultHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.hits
	}
	return n
}

// DisableAQL makes POST /api/search/aql answer status (e.g. 403, or 400 as on
// the OSS edition) so clients must fall back; 0 re-enables AQL.
func (s *Server) DisableAQL(status int) {
	s.mu.Lock()
	s.aqlDisabled = status
	s.mu.Unlock()
}

// applyFaults applies the first fault hitting the request. It reports true
// when the request has been answered (or abandoned) by the fault.
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request, rel string) bool {
	s.mu.Lock()
	var hit *Fault
	for _, fs := range s.faults {
		if !strings.HasPrefix(rel, fs.f.Path) {
			continue
		}
		if fs.f.Count > 0 && fs.hits >= fs.f.Count {
			continue
		}
		if fs.f.Rate > 0 && fs.rng.Float64() >= fs.f.Rate {
			continue
		}
		fs.hits++
		f := fs.f
		hit = &f
		break
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}
	if hit.Latency > 0 {
		t := time.NewTimer(hit.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-s.closing:
			t.Stop()
			panic(http.ErrAbortHandler) // drop the connection: no response
		}
	}
	if hit.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
			panic(http.ErrAbortHandler) // drop the connection: no response
		}
		return true
	}
	if hit.Status == 0 {
		return false
	}
	if hit.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(hit.RetryAfter.Seconds()))))
	}
	msg := hit.Message
	if msg == "" {
		msg = http.StatusText(hit.Status)
	}
	if hit.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Artifactory Realm"`)
	}
	writeEnvelope(w, hit.Status, msg)
	return true
}
