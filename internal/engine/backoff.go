package engine

import (
	"fmt"
	"runtime"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/retry"
)

// RetryPolicy bounds the retries of one analysis or delivery.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included
	Base        time.Duration // wait after the first failure
	Max         time.Duration // cap of the wait
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("retry policy: max attempts must be at least 1, got %d", p.MaxAttempts)
	case p.Base <= 0:
		return fmt.Errorf("retry policy: base wait must be positive, got %s", p.Base)
	case p.Max < p.Base:
		return fmt.Errorf("retry policy: max wait %s is below the base wait %s", p.Max, p.Base)
	}
	return nil
}

// Backoff is the wait after the attempt-th failure (1-based): Base*2^(attempt-1)
// capped at Max, with "equal jitter" (between half and all of it) so workers
// failing together do not retry in lockstep.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	return retry.Jittered(p.Base, p.Max, attempt-1)
}

// pollBackoff is the delay before polling an integration again after failures
// consecutive failed polls: one interval, then doubling up to 8 intervals.
func pollBackoff(interval time.Duration, failures int) time.Duration {
	return retry.Jittered(interval, 8*interval, failures-1)
}

func runtimeCPUs() int { return runtime.NumCPU() }
