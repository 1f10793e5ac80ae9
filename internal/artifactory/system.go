package artifactory

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Ping calls GET /api/system/ping and expects "OK". Ping may not validate credentials (it does
// not on some 7.x versions); use Version for a credential check.
func (c *Client) Ping(ctx context.Context) error {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/api/system/ping", accept: "text/plain"})
	if err != nil {
		return err
	}
	if body := strings.TrimSpace(string(resp.body)); body != "OK" {
		return fmt.Errorf("GET /api/system/ping: unexpected answer %q (is %s an Artifactory?)", truncate(body), c.endpoints.REST)
	}
	return nil
}

// Version calls GET /api/system/version. It needs valid credentials (or anonymous access), so it
// doubles as the credential check.
func (c *Client) Version(ctx context.Context) (Version, error) {
	resp, err := c.get(ctx, "/api/system/version", nil)
	if err != nil {
		return Version{}, err
	}
	var v Version
	if err := json.Unmarshal(resp.body, &v); err != nil || v.Version == "" {
		return Version{}, fmt.Errorf("GET /api/system/version: answer is not Artifactory's version JSON (is %s the Artifactory URL?)", c.endpoints.REST)
	}
	v.Version = strings.TrimSpace(v.Version)
	return v, nil
}
