package engine

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// reloadDebounce is how long integrations_dir must be quiet before it is
	// re-read: Terraform writes a temporary file then renames it, Kubernetes
	// swaps a ..data symlink; each is a burst of events for one change.
	reloadDebounce = 300 * time.Millisecond
	// reloadMaxDelay bounds the wait under a steady stream of events.
	reloadMaxDelay = 2 * time.Second
)

// watchIntegrationsDir watches integrations_dir and, after each burst of
// events, reloads the integrations and triggers an immediate poll of those
// added or changed (removed ones stop in reloadIntegrations). It returns a
// channel closed once the watcher goroutine has stopped (when ctx is done), or
// nil when the directory cannot be watched: the caller then relies on
// re-reading it every poll interval.
func (e *Engine) watchIntegrationsDir(ctx context.Context) <-chan struct{} {
	dir := e.cfg.IntegrationsDir
	if dir == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		// The directory itself, not the files: renames over a file and symlink
		// swaps replace the inode a file watch would be on.
		if err = w.Add(dir); err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		e.log.Warn("cannot watch integrations_dir; changes are picked up at the next poll instead (on Linux, raise fs.inotify.max_user_watches or max_user_instances)",
			"integrations_dir", dir, "poll_interval", e.set.pollInterval, "error", err)
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		e.runDirWatch(ctx, w, filepath.Clean(dir))
	}()
	return done
}

func (e *Engine) runDirWatch(ctx context.Context, w *fsnotify.Watcher, dir string) {
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var first time.Time // first event of the current burst; zero when none pending
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == dir && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
				e.log.Warn("integrations_dir was removed or renamed; it is re-read every poll interval until the engine restarts", "integrations_dir", dir)
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			// Trailing debounce, but never later than reloadMaxDelay after the first event.
			debounce.Reset(min(reloadDebounce, max(0, first.Add(reloadMaxDelay).Sub(now))))
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: re-read to be safe.
			e.log.Warn("integrations_dir watcher error; re-reading the directory", "integrations_dir", dir, "error", err)
			if first.IsZero() {
				first = time.Now()
			}
			debounce.Reset(reloadDebounce)
		case <-debounce.C:
			first = time.Time{}
			for _, name := range e.reloadIntegrations() {
				e.Trigger(name)
			}
		}
	}
}
