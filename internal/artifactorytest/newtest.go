package artifactorytest

import "testing"

// NewTest returns a started Server that is closed when the test ends.
func NewTest(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	if err := s.Start(); err != nil {
		t.Fatalf("artifactorytest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
