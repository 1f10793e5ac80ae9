package artifactorytest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"time"
)

// User is an Artifactory user. APIKey is optional (legacy "AKCp8..." keys).
type User struct {
	Name     string
	Password string
	APIKey   string
	Admin    bool
}

// AnonymousUser is the name permissions are granted to for anonymous access.
const AnonymousUser = "anonymous"

type tokenKind int

const (
	accessToken tokenKind = iota
	dockerToken
	referenceToken
)

type tokenInfo struct {
	user    string
	kind    tokenKind
	expires time.Time // zero = never
	revoked bool
}

// principal is who a request authenticated as.
type principal struct {
	name      string
	admin     bool
	anonymous bool
	lockMsg   string // set with authLocked
}

// authOutcome classifies the credentials of a request.
type authOutcome int

const (
	authOK authOutcome = iota
	authNone
	authBad
	authExpired // token expired or revoked (docker routes answer with a challenge)
	authMismatch
	authLocked // too many recent failures (brute-force protection): 403
)

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := u
	s.users[u.Name] = &cp
}

// AdminUser returns the built-in administrator's credentials.
func (s *Server) AdminUser() (name, password string) { return AdminName, AdminPassword }

// Grant gives username READ permission on repositoryKey. For a remote
// repository it covers its "<key>-cache"; a virtual key is readable when
// granted itself or through a readable member.
func (s *Server) Grant(username, repositoryKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grants[username] == nil {
		s.grants[username] = map[string]bool{}
	}
	s.grants[username][repositoryKey] = true
}

// Revoke removes a READ permission given by Grant.
func (s *Server) Revoke(username, repositoryKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.grants[username], repositoryKey)
}

// IssueToken returns a JWT-shaped access token (eyJ2ZXIiOiIy...) whose sub
// is jfrt@<service>/users/<username>. ttl 0 = no expiry. The user need not
// exist (self-authenticating tokens); its permissions come from Grant.
func (s *Server) IssueToken(username string, ttl time.Duration) string {
	return s.issue(username, ttl, accessToken)
}

// IssueReferenceToken returns an opaque reference token (cmVmd..., 64
// characters) for username: usable as Bearer, in X-JFrog-Art-Api, or as a
// Basic password with the matching username. ttl 0 = no expiry.
func (s *Server) IssueReferenceToken(username string, ttl time.Duration) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	raw := make([]byte, 59)
	if _, err := rand.Read(raw); err != nil {
		panic(err)
	}
	for i := range raw {
		raw[i] = alphabet[int(raw[i])%len(alphabet)]
	}
	tok := "cmVmd" + string(raw)
	var exp time.Time
	if ttl > 0 {
		exp = s.cfg.clock().Add(ttl)
	}
	s.mu.Lock()
	s.tokens[tok] = &tokenInfo{user: username, kind: referenceToken, expires: exp}
	s.mu.Unlock()
	return tok
}

// RevokeToken revokes a token; later requests with it get 401.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[token]; ok {
		t.revoked = true
	}
}

func (s *Server) issue(username string, ttl time.Duration, kind tokenKind) string {
	now := s.cfg.clock()
	header := map[string]string{"ver": "2", "typ": "JWT", "alg": "RS256", "kid": s.serviceID[:8]}
	claims := map[string]any{
		"sub": "jfrt@" + s.serviceID + "/users/" + username,
		"scp": "applied-permissions/user",
		"aud": "*@*",
		"iss": "jfrt@" + s.serviceID,
		"iat": now.Unix(),
		"jti": randomHex(16),
	}
	if kind == dockerToken {
		claims["scp"] = "applied-permissions/user docker"
	}
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
		claims["exp"] = exp.Unix()
	}
	hb, _ := json.Marshal(orderedHeader(header))
	cb, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(signing))
	tok := signing + "." + enc.EncodeToString(mac.Sum(nil))
	s.mu.Lock()
	s.tokens[tok] = &tokenInfo{user: username, kind: kind, expires: exp}
	s.mu.Unlock()
	return tok
}

// orderedHeader keeps "ver" first so the token starts with eyJ2ZXIiOiIy.
type orderedHeader map[string]string

func (h orderedHeader) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString(`{"ver":` + jsonString(h["ver"]))
	for _, k := range []string{"typ", "alg", "kid"} {
		b.WriteString("," + jsonString(k) + ":" + jsonString(h[k]))
	}
	b.WriteString("}")
	return []byte(b.String()), nil
}

// authenticate resolves the credentials of r, with the optional brute-force
// protection of WithLoginLockout. allowDockerTokens accepts tokens from the
// Docker token endpoint (only on Docker routes).
func (s *Server) authenticate(r *http.Request, allowDockerTokens bool) (principal, authOutcome) {
	if s.cfg.lockoutAfter <= 0 {
		return s.checkCredentials(r, allowDockerTokens)
	}
	key := lockoutKey(r)
	now := s.cfg.clock()
	s.mu.Lock()
	st := s.lockouts[key]
	if st != nil && now.Before(st.blockedUntil) {
		secs := int(math.Ceil(st.blockedUntil.Sub(now).Seconds()))
		s.mu.Unlock()
		return principal{lockMsg: fmt.Sprintf("This request is blocked due to recurrent request failures, please try again in %d second(s)", secs)}, authLocked
	}
	s.mu.Unlock()
	p, outcome := s.checkCredentials(r, allowDockerTokens)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch outcome {
	case authBad, authMismatch:
		if st == nil {
			st = &lockout{}
			s.lockouts[key] = st
		}
		st.failures++
		if st.failures >= s.cfg.lockoutAfter {
			st.failures = 0
			st.blockedUntil = now.Add(s.cfg.lockoutFor)
		}
	case authOK:
		delete(s.lockouts, key)
	}
	return p, outcome
}

type lockout struct {
	failures     int
	blockedUntil time.Time
}

// lockoutKey identifies "the same client": the Basic username, else the remote host.
func lockoutKey(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok {
		return "user:" + strings.ToLower(u)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "host:" + host
}

func (s *Server) checkCredentials(r *http.Request, allowDockerTokens bool) (principal, authOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key := firstHeader(r, "X-JFrog-Art-Api", "X-Api-Key"); key != "" {
		for _, u := range s.users {
			if u.APIKey != "" && u.APIKey == key {
				return principal{name: u.Name, admin: u.Admin}, authOK
			}
		}
		// Reference tokens work "similarly to an API Key (with the JFrog API Key header)".
		if t, ok := s.tokens[key]; ok && t.kind == referenceToken {
			if !s.tokenValid(t) {
				return principal{}, authExpired
			}
			return s.principalFor(t.user), authOK
		}
		return principal{}, authBad
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if s.cfg.anonymous {
			return principal{name: AnonymousUser, anonymous: true}, authNone
		}
		return principal{}, authNone
	}
	scheme, cred, _ := strings.Cut(authz, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return principal{}, authBad
		}
		name, secret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return principal{}, authBad
		}
		if u, ok := s.users[name]; ok && secret != "" && (secret == u.Password || (u.APIKey != "" && secret == u.APIKey)) {
			return principal{name: u.Name, admin: u.Admin}, authOK
		}
		if t, ok := s.tokens[secret]; ok && (t.kind != dockerToken || allowDockerTokens) {
			if !strings.EqualFold(t.user, name) {
				return principal{}, authMismatch
			}
			if !s.tokenValid(t) {
				return principal{}, authExpired
			}
			return s.principalFor(t.user), authOK
		}
		return principal{}, authBad
	case "bearer":
		t, ok := s.tokens[cred]
		if !ok || (t.kind == dockerToken && !allowDockerTokens) {
			return principal{}, authBad
		}
		if !s.tokenValid(t) {
			return principal{}, authExpired
		}
		return s.principalFor(t.user), authOK
	}
	return principal{}, authBad
}

func (s *Server) tokenValid(t *tokenInfo) bool {
	if t.revoked {
		return false
	}
	return t.expires.IsZero() || s.cfg.clock().Before(t.expires)
}

// principalFor must be called with s.mu held.
func (s *Server) principalFor(name string) principal {
	if u, ok := s.users[name]; ok {
		return principal{name: u.Name, admin: u.Admin}
	}
	return principal{name: name}
}

func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// authenticateREST authenticates a REST request and writes the 401 itself
// when it fails. Anonymous callers pass only when anonymous access is on.
func (s *Server) authenticateREST(w http.ResponseWriter, r *http.Request) (principal, bool) {
	p, outcome := s.authenticate(r, false)
	switch outcome {
	case authOK:
		return p, true
	case authNone:
		if p.anonymous {
			return p, true
		}
		writeUnauthorized(w, "Authentication is required")
	case authMismatch:
		writeUnauthorized(w, "Token principal mismatch.")
	case authLocked:
		writeEnvelope(w, http.StatusForbidden, p.lockMsg)
	default:
		writeUnauthorized(w, "Bad credentials")
	}
	return principal{}, false
}

// canRead reports whether p may read repository key (physical, cache or virtual).
func (s *Server) canRead(p principal, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canReadLocked(p, key, 0)
}

func (s *Server) canReadLocked(p principal, key string, depth int) bool {
	if p.admin {
		return true
	}
	g := s.grants[p.name]
	if g[key] {
		return true
	}
	if strings.HasSuffix(key, "-cache") {
		if r, ok := s.repos[strings.TrimSuffix(key, "-cache")]; ok && r.Class == "remote" {
			return g[r.Key]
		}
	}
	if r, ok := s.repos[key]; ok && r.Class == "virtual" && depth < 8 {
		for _, m := range r.Members {
			if s.canReadLocked(p, m, depth+1) {
				return true
			}
		}
	}
	return false
}
