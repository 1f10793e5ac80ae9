package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/inventory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/server"
)

// serve starts the server on the configured `listen` address for the duration
// of Run: health and readiness, /metrics, the inventory API and the webhook
// receiver. The listener is opened before serve returns, so a bad or busy
// address fails Run at once. The server shuts down when ctx is cancelled or
// stop is called; stop waits for it (server.ShutdownTimeout at most) and
// returns the error it failed with, if any. A server that fails while the
// engine runs cancels the run through abort.
func (e *Engine) serve(ctx context.Context, abort context.CancelFunc) (stop func() error, err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", e.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("engine: cannot serve on %q (config key \"listen\"): %w", e.cfg.Listen, err)
	}
	srv := server.New(e.serverOptions()...)

	sctx, cancel := context.WithCancel(ctx)
	var serveErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			serveErr = err
			if sctx.Err() == nil {
				e.log.Error("the server failed; stopping the engine", "listen", e.cfg.Listen, "error", err)
				abort()
			}
		}
	}()
	var once sync.Once
	return func() error {
		once.Do(func() {
			cancel()
			<-done
		})
		return serveErr
	}, nil
}

func (e *Engine) serverOptions() []server.Option {
	opts := []server.Option{
		server.WithLogger(e.log),
		server.WithInventory(e.store),
		server.WithReadiness(e.Ready),
		server.WithInventoryToken(e.cfg.APIToken),
		server.WithWebhooks(e.router),
	}
	if e.set.metrics != nil {
		opts = append(opts, server.WithMetrics(e.set.metrics))
	}
	// The inventory says where the SBOMs are: in the first directory output, once
	// delivered there.
	for _, o := range e.outputs {
		if d, ok := o.(*output.Directory); ok {
			opts = append(opts, server.WithLocator(inventory.NewDirectory(d, e.cfg.SBOMFormats, e.store).SBOMs))
			break
		}
	}
	return opts
}

// Ready reports whether the engine is ready (/readyz): the store is open, the
// engine is not shutting down, and every integration has passed its connection
// check at least once. Otherwise reason names what is missing, integration by
// integration.
func (e *Engine) Ready() (ok bool, reason string) {
	switch {
	case e.store == nil:
		return false, "the store is not open"
	case e.stopping.Load():
		return false, "shutting down"
	}
	var waiting []string
	for _, in := range e.activeIntegrations() {
		if passed, why := in.connection(); !passed {
			if why == "" {
				why = "connection not checked yet"
			}
			waiting = append(waiting, fmt.Sprintf("integration %q: %s", in.name, why))
		}
	}
	if len(waiting) > 0 {
		return false, strings.Join(waiting, "; ")
	}
	return true, ""
}

// connection returns whether in passed its connection check, and why the last
// check failed.
func (in *integration) connection() (passed bool, reason string) {
	in.connMu.Lock()
	defer in.connMu.Unlock()
	return in.connPassed, in.connReason
}

// checkConnection runs the Test Connection check (credentials, then every
// repository: exists, is Docker, is readable) until it passes once. It only
// feeds readiness and the log: polling goes on either way, so a repository that
// is fixed later is picked up without a restart.
func (e *Engine) checkConnection(ctx context.Context, in *integration) {
	if passed, _ := in.connection(); passed {
		return
	}
	report, err := in.client.TestConnection(ctx, in.cfg.Repositories)
	if ctx.Err() != nil {
		return
	}
	reason := connectionFailure(report, err)
	in.connMu.Lock()
	previous := in.connReason
	in.connPassed, in.connReason = reason == "", reason
	in.connMu.Unlock()
	switch {
	case reason == "":
		in.log.Info("connection check passed", "artifactory_version", report.Version.Version)
	case reason != previous:
		in.log.Error("connection check failed; the engine is not ready until it passes", "reason", reason)
	}
}

// connectionFailure is why a Test Connection report failed, "" when it passed.
// Its sentences come from the client and never hold a secret.
func connectionFailure(report *artifactory.ConnectionReport, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case report == nil:
		return "no connection report"
	case !report.AuthOK:
		if report.Hint != "" {
			return "authentication failed: " + report.Hint
		}
		return "authentication failed: invalid credentials or insufficient permissions"
	}
	failed := report.Failed()
	if len(failed) == 0 {
		return ""
	}
	keys := make([]string, 0, len(failed))
	whys := make([]string, 0, len(failed))
	for _, c := range failed {
		keys = append(keys, c.Key)
		whys = append(whys, c.Key+": "+c.Reason)
	}
	return fmt.Sprintf("repository access failed for: [%s] (%s)", strings.Join(keys, ", "), strings.Join(whys, "; "))
}

// webhookRoutes maps every integration's repositories (including those only
// named by its image filters) and webhook secret for the webhook receiver.
func webhookRoutes(integrations map[string]*integration, order []string) []server.WebhookRoute {
	routes := make([]server.WebhookRoute, 0, len(order))
	for _, n := range order {
		in := integrations[n]
		routes = append(routes, server.WebhookRoute{
			Integration:  in.name,
			BaseURL:      in.cfg.BaseURL,
			Repositories: append([]string(nil), in.cfg.Repositories...),
			Secret:       in.cfg.WebhookSecret,
		})
	}
	return routes
}
