package main

import (
	"os"
	"os/exec"
	"testing"
)

func TestMeasureReportsTheChildsOwnPeak(t *testing.T) {
	// Grow this process first: rusage would report at least this much for any child.
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	self, ok := peakRSS(os.Getpid())
	if !ok || self < 256<<20 {
		t.Fatalf("own VmHWM %d, %v: want at least the 256 MiB ballast", self, ok)
	}
	m, err := measure(exec.Command("sleep", "0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if m.peakRSS <= 0 || m.peakRSS >= 64<<20 {
		t.Fatalf("child peak RSS = %d bytes, want sleep's own few MiB, not the parent's %d", m.peakRSS, self)
	}
	if m.wall <= 0 || m.runs != 1 {
		t.Fatalf("measurement %+v", m)
	}
	ballast[0] = ballast[len(ballast)-1] // keep the ballast alive until here
}
