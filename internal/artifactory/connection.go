package artifactory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TestConnection checks the credentials once (GET /api/system/version), then every key
// concurrently: GET /api/repositories/{key} (exists, is Docker) and GET /api/storage/{key}
// (readable; for a remote repository its "<key>-cache", where 404 only means nothing is cached
// yet). It returns an error only for invalid input; everything the server says is in the report.
func (c *Client) TestConnection(ctx context.Context, repositoryKeys []string) (*ConnectionReport, error) {
	for i, k := range repositoryKeys {
		if err := ValidRepositoryKey(k); err != nil {
			return nil, fmt.Errorf("repository_keys[%d]: %w", i, err)
		}
	}
	report := &ConnectionReport{Repositories: make([]RepositoryCheck, len(repositoryKeys))}
	for i, k := range repositoryKeys {
		report.Repositories[i].Key = k
	}

	v, err := c.Version(ctx)
	if err != nil {
		report.AuthError = err
		status, reason := c.credentialFailure(err)
		report.Hint = reason
		for i := range report.Repositories {
			report.Repositories[i].Status = status
			report.Repositories[i].Reason = "not checked: " + reason
		}
		return report, nil
	}
	report.Version = v
	report.AuthOK = true

	// Check each distinct key once, concurrently.
	results := map[string]*RepositoryCheck{}
	var distinct []string
	for _, k := range repositoryKeys {
		if _, ok := results[k]; !ok {
			results[k] = &RepositoryCheck{Key: k}
			distinct = append(distinct, k)
		}
	}
	forEach(len(distinct), func(i int) {
		*results[distinct[i]] = c.checkRepository(ctx, distinct[i])
	})
	for i, k := range repositoryKeys {
		report.Repositories[i] = *results[k]
	}
	return report, nil
}

// credentialFailure turns a failed version call into a status for every key and a sentence
// saying what to do.
func (c *Client) credentialFailure(err error) (status, reason string) {
	creds := c.opts.creds
	var e *Error
	switch {
	case IsUnreachable(err):
		return StatusUnreachable, c.unreachableReason(err)
	case IsUnauthorized(err):
		return StatusUnauthorized, c.authHint(time.Now())
	case IsForbidden(err) && errors.As(err, &e) && strings.Contains(strings.ToLower(e.Message), "blocked"):
		return StatusUnauthorized, fmt.Sprintf("Artifactory is temporarily blocking these credentials after repeated failed logins (%s): fix the credentials, then wait for the block to end", e.Message)
	case IsForbidden(err):
		who := "the user"
		if p := creds.principal(); p != "" {
			who = fmt.Sprintf("user %q", p)
		}
		return StatusUnauthorized, fmt.Sprintf("%s is locked, expired or lacks permission: check the account is active and grant READ on the repositories (%s)", who, e.Message)
	case StatusCode(err) == http.StatusNotFound:
		return StatusUnreachable, fmt.Sprintf("%s/api/system/version was not found: %s does not look like an Artifactory base URL; use the platform URL (https://<host>) or .../artifactory", c.endpoints.REST, c.endpoints.REST)
	case errors.As(err, &e) && e.StatusCode >= 500:
		return StatusUnreachable, fmt.Sprintf("Artifactory at %s answered %d %s after retries: check the server's health and try again", c.endpoints.REST, e.StatusCode, e.Message)
	default:
		return StatusUnreachable, fmt.Sprintf("cannot check credentials at %s: %v", c.endpoints.REST, err)
	}
}

// authHint explains a 401 on the credential check.
func (c *Client) authHint(now time.Time) string {
	creds := c.opts.creds
	switch {
	case creds.Mode() == AuthNone:
		return "no credentials were given and the server does not allow anonymous access: set an access token (or a username and password)"
	case creds.Username == "" && looksLikeAPIKey(creds.Secret):
		return "a legacy API key needs a username: set username to the key's owner, or better, replace the key with an access token (API keys are deprecated)"
	}
	if exp, expired := creds.tokenExpired(now); expired {
		return fmt.Sprintf("the access token has expired (at %s): create a new token and update access_token", exp.UTC().Format(time.RFC3339))
	}
	switch creds.Mode() {
	case AuthBasic:
		if _, isJWT := creds.claims(); isJWT {
			return fmt.Sprintf("the token was rejected with username %q: the username must be the token's subject, or leave username empty to send it as a Bearer token", creds.Username)
		}
		return fmt.Sprintf("the password or token for user %q was rejected: check both, and that the user exists", creds.Username)
	case AuthAPIKey:
		return "the API key was rejected: API keys are deprecated and disabled on current Artifactory; use an access token"
	default:
		return "the access token was rejected: check it was not revoked and belongs to this JFrog Platform (a token from another instance is invalid here)"
	}
}

func (c *Client) unreachableReason(err error) string {
	var te *transportError
	if errors.As(err, &te) && te.timeout {
		return fmt.Sprintf("cannot reach Artifactory at %s: no answer within %s; check the URL, the network path and any proxy, or raise the timeout", c.endpoints.REST, c.opts.timeout)
	}
	cause := err.Error()
	if errors.As(err, &te) {
		cause = describeTransport(te.Err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Sprintf("cannot verify the TLS certificate of %s: %s; give the CA that signed it as the CA file (ca_cert_file / ca_file)", c.endpoints.REST, cause)
	}
	return fmt.Sprintf("cannot reach Artifactory at %s (timeout %s): %s; check the URL, DNS, TLS settings and the network path", c.endpoints.REST, c.opts.timeout, cause)
}

// checkRepository decides one key's status.
func (c *Client) checkRepository(ctx context.Context, key string) RepositoryCheck {
	rc := RepositoryCheck{Key: key}
	repo, err := c.Repository(ctx, key)
	if err != nil {
		switch {
		case IsNotFound(err) || StatusCode(err) == http.StatusBadRequest:
			rc.Status = StatusNotFound
			rc.Reason = fmt.Sprintf("repository %q does not exist on %s: check the key (keys are case-sensitive) in Administration > Repositories", key, c.endpoints.REST)
		case IsForbidden(err):
			rc.Status, rc.Reason = StatusNoRead, c.noReadReason(key)
		default:
			rc.Status, rc.Reason = c.failure(key, err)
		}
		return rc
	}
	rc.Repository = repo
	if !repo.IsDocker() {
		pt := repo.PackageType
		if pt == "" {
			pt = "unknown"
		}
		rc.Status = StatusNotDocker
		rc.Reason = fmt.Sprintf("repository %q is a %s repository of package type %q, not Docker: use the key of a Docker (or OCI) repository", key, classOrRepo(repo.Class), pt)
		return rc
	}

	storageKey := key
	if repo.Class == ClassRemote {
		storageKey = key + "-cache"
	}
	_, err = c.get(ctx, "/api/storage/"+url.PathEscape(storageKey), nil)
	switch {
	case err == nil:
		rc.Status = StatusOK
	case IsForbidden(err):
		rc.Status, rc.Reason = StatusNoRead, c.noReadReason(key)
	case StatusCode(err) == http.StatusNotFound && repo.Class == ClassRemote:
		rc.Status = StatusOK // nothing cached yet
	case StatusCode(err) == http.StatusNotFound:
		// The configuration is readable but the content is hidden: hideUnauthorizedResources answers 404.
		rc.Status, rc.Reason = StatusNoRead, c.noReadReason(key)
	default:
		rc.Status, rc.Reason = c.failure(key, err)
	}
	return rc
}

func classOrRepo(class string) string {
	if class == "" {
		return "non-Docker"
	}
	return class
}

func (c *Client) noReadReason(key string) string {
	switch p := c.opts.creds.principal(); {
	case c.opts.creds.Mode() == AuthNone:
		return fmt.Sprintf("anonymous access cannot read repository %q: set credentials of a user with READ on it", key)
	case p != "":
		return fmt.Sprintf("user %q lacks READ permission on repository %q: grant READ on it in a permission target (Administration > User Management > Permissions)", p, key)
	default:
		return fmt.Sprintf("these credentials lack READ permission on repository %q: grant READ on it to the token's user or group in a permission target", key)
	}
}

// failure classifies a non-answer or unexpected error while checking one key.
func (c *Client) failure(key string, err error) (string, string) {
	switch {
	case IsUnreachable(err):
		return StatusUnreachable, fmt.Sprintf("repository %q: %s", key, c.unreachableReason(err))
	case IsUnauthorized(err):
		return StatusUnauthorized, fmt.Sprintf("repository %q: the credentials were rejected (%v): %s", key, err, c.authHint(time.Now()))
	default:
		return StatusUnreachable, fmt.Sprintf("repository %q could not be checked: %v", key, err)
	}
}
