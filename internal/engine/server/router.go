package server

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// WebhookRoute is what the router knows of one integration.
type WebhookRoute struct {
	Integration  string
	BaseURL      string   // the integration's base_url; its host is matched against jpd_origin
	Repositories []string // repository keys the integration watches
	Secret       string   // webhook secret; "" refuses every webhook for this integration
}

// Router is a WebhookRouter over a set of routes that the engine replaces on
// every (hot) reload of its integrations. Safe for concurrent use.
type Router struct {
	trigger func(integration string)
	mu      sync.RWMutex
	routes  []compiledRoute
}

type compiledRoute struct {
	WebhookRoute
	origin string // host[:port] of BaseURL, lower-case, default port dropped
}

var _ WebhookRouter = (*Router)(nil)

// NewRouter returns a router that calls trigger (which must not block) for
// accepted pushes.
func NewRouter(trigger func(integration string)) *Router { return &Router{trigger: trigger} }

// SetRoutes replaces the routes (integrations added, changed or removed).
func (r *Router) SetRoutes(routes []WebhookRoute) {
	cs := make([]compiledRoute, 0, len(routes))
	for _, rt := range routes {
		c := compiledRoute{WebhookRoute: rt}
		if ep, err := artifactory.ParseURL(rt.BaseURL); err == nil {
			c.origin = hostKey(ep.Platform)
		}
		cs = append(cs, c)
	}
	// Deterministic choice when a key is ambiguous.
	slices.SortFunc(cs, func(a, b compiledRoute) int { return strings.Compare(a.Integration, b.Integration) })
	r.mu.Lock()
	r.routes = cs
	r.mu.Unlock()
}

// Route finds the integration watching repoKey. A remote repository's webhook
// names its cache ("<key>-cache"), which matches an integration watching <key>.
// When several integrations watch the key, the one whose base URL has the
// webhook's origin host wins; otherwise the first by name.
func (r *Router) Route(repoKey, origin string) (string, string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var candidates []compiledRoute
	for _, rt := range r.routes {
		if watches(rt.Repositories, repoKey) {
			candidates = append(candidates, rt)
		}
	}
	if len(candidates) == 0 {
		return "", "", false
	}
	if origin != "" {
		if u, err := url.Parse(origin); err == nil && u.Host != "" {
			o := hostKey(u)
			for _, c := range candidates {
				if c.origin == o {
					return c.Integration, c.Secret, true
				}
			}
		}
	}
	return candidates[0].Integration, candidates[0].Secret, true
}

// Trigger asks for an immediate poll of integration.
func (r *Router) Trigger(integration string) {
	if r.trigger != nil {
		r.trigger(integration)
	}
}

func watches(keys []string, repoKey string) bool {
	for _, k := range keys {
		if k == repoKey || k+"-cache" == repoKey {
			return true
		}
	}
	return false
}

// hostKey is u's host for comparison: lower-case, without the scheme's default port.
func hostKey(u *url.URL) string {
	if u == nil {
		return ""
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}
