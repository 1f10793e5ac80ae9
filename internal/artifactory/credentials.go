package artifactory

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Credentials are what a user gives to authenticate: an optional username and one secret
// (password, access/identity/reference token, or legacy API key).
type Credentials struct {
	Username string
	Secret   string
}

// HeaderAPIKey is the header Artifactory reads a legacy API key from.
const HeaderAPIKey = "X-JFrog-Art-Api"

// Mode tells how the credentials are sent (DESIGN.md): Basic when a username is set, the
// X-JFrog-Art-Api header for a legacy API key without username, Bearer for any other secret.
func (c Credentials) Mode() AuthMode {
	switch {
	case c.Username != "":
		return AuthBasic
	case c.Secret == "":
		return AuthNone
	case IsLegacyAPIKey(c.Secret):
		return AuthAPIKey
	default:
		return AuthBearer
	}
}

// IsLegacyAPIKey reports whether s looks like a legacy Artifactory API key, with jfrog-client-go's
// rule: prefix "AKCp8" and at least 73 characters.
func IsLegacyAPIKey(s string) bool {
	return strings.HasPrefix(s, "AKCp8") && len(s) >= 73
}

// looksLikeAPIKey is the looser test used for hints only (older keys start AKCp5...).
func looksLikeAPIKey(s string) bool { return strings.HasPrefix(s, "AKCp") && len(s) >= 60 }

// apply sets the authentication header of r.
func (c Credentials) apply(r *http.Request) {
	switch c.Mode() {
	case AuthBasic:
		r.SetBasicAuth(c.Username, c.Secret)
	case AuthAPIKey:
		r.Header.Set(HeaderAPIKey, c.Secret)
	case AuthBearer:
		r.Header.Set("Authorization", "Bearer "+c.Secret)
	}
}

// String describes the credentials without the secret.
func (c Credentials) String() string {
	secret := "unset"
	if c.Secret != "" {
		secret = "set"
	}
	if c.Username == "" {
		return fmt.Sprintf("Credentials{mode: %s, secret: %s}", c.Mode(), secret)
	}
	return fmt.Sprintf("Credentials{mode: %s, username: %q, secret: %s}", c.Mode(), c.Username, secret)
}

// GoString keeps %#v from printing the secret.
func (c Credentials) GoString() string { return c.String() }

// MarshalJSON keeps the secret out of any JSON the value ends up in (logs, debug dumps).
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Mode     string `json:"mode"`
		Username string `json:"username,omitempty"`
		Secret   bool   `json:"secret_set"`
	}{c.Mode().String(), c.Username, c.Secret != ""})
}

// tokenClaims are the JWT claims of an Artifactory access token that hints use.
type tokenClaims struct {
	Subject string `json:"sub"`
	Expiry  int64  `json:"exp"`
}

// claims decodes the payload of a JWT-shaped secret without verifying it. Reference tokens and
// passwords are not JWTs: ok is false.
func (c Credentials) claims() (tokenClaims, bool) {
	parts := strings.Split(c.Secret, ".")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "eyJ") {
		return tokenClaims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}, false
	}
	var tc tokenClaims
	if json.Unmarshal(raw, &tc) != nil {
		return tokenClaims{}, false
	}
	return tc, true
}

// tokenExpired reports whether the secret is a JWT whose exp lies before now.
func (c Credentials) tokenExpired(now time.Time) (time.Time, bool) {
	tc, ok := c.claims()
	if !ok || tc.Expiry == 0 {
		return time.Time{}, false
	}
	exp := time.Unix(tc.Expiry, 0)
	return exp, exp.Before(now)
}

// principal names the user the credentials act as, for messages: the username, or the user in
// a JWT subject (jfrt@<id>/users/<name>). Empty when unknown.
func (c Credentials) principal() string {
	if c.Username != "" {
		return c.Username
	}
	if tc, ok := c.claims(); ok {
		if i := strings.LastIndex(tc.Subject, "/users/"); i >= 0 {
			return tc.Subject[i+len("/users/"):]
		}
	}
	return ""
}
