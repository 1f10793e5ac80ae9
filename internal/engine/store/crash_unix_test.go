//go:build unix

package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as an engine that dies by SIGKILL mid-work.
func TestMain(m *testing.M) {
	if path := os.Getenv("IMAGEWATCH_STORE_CRASH_DB"); path != "" {
		crashHelper(path)
		return
	}
	os.Exit(m.Run())
}

func crashHelper(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		os.Exit(3)
	}
	for i := range 5 {
		if _, err := s.EnsureAnalysis(ctx, Analysis{Digest: dgst(i)}); err != nil {
			os.Exit(4)
		}
	}
	if _, err := s.ClaimDue(ctx, time.Now(), 3); err != nil {
		os.Exit(5)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func TestKill9MidAnalysisLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagewatch.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IMAGEWATCH_STORE_CRASH_DB="+path)
	err := cmd.Run()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die by SIGKILL: %v (%v)", err, cmd.ProcessState)
	}
	// The kernel released the lock; the running rows come back as pending.
	s := openTest(t, path)
	counts, err := s.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusPending] != 5 || counts[StatusRunning] != 0 {
		t.Fatalf("counts after kill -9 = %v, want 5 pending", counts)
	}
}
