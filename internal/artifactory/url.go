package artifactory

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
)

// Endpoints are the URLs derived from the one URL a user configures.
type Endpoints struct {
	Platform     *url.URL // scheme://host[:port]; for a legacy context URL (https://acme.jfrog.io/acme) the same as REST
	REST         *url.URL // Artifactory base, e.g. https://acme.jfrog.io/artifactory (no trailing slash)
	RegistryHost string   // host[:port] used in image references (repository-path method): host/<key>/<image>:<tag>
	Insecure     bool     // scheme is http
}

// artifactoryContext is the context path of Artifactory 7.x (it cannot be removed there).
const artifactoryContext = "/artifactory"

// ParseURL normalises the JFrog Platform or Artifactory URL a user gives.
//
// https://acme.jfrog.io, https://acme.jfrog.io/artifactory, http://artifactory.internal:8082 and
// http://localhost:8082/artifactory/ all give REST = <scheme>://<host>/artifactory. A URL whose
// path is some other single context (pre-7 SaaS: https://acme.jfrog.io/acme, or a reverse proxy
// prefix) is taken as the Artifactory base itself.
func ParseURL(raw string) (Endpoints, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Endpoints{}, errors.New("url is empty: set it to your JFrog Platform URL, e.g. https://acme.jfrog.io")
	}
	if !strings.Contains(s, "://") {
		return Endpoints{}, fmt.Errorf("url %q has no scheme: write it as https://%s (or http:// for a server without TLS)", s, strings.TrimLeft(s, "/"))
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse errors repeat the input; it may hold credentials, so describe the problem only.
		return Endpoints{}, errors.New("url is not a valid URL: write it as https://<host>[:port][/artifactory]")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return Endpoints{}, fmt.Errorf("url must use http or https, not %q: write it as https://<host>[/artifactory]", u.Scheme)
	}
	if u.User != nil {
		return Endpoints{}, errors.New("url must not contain credentials (user:password@): set username and access_token instead")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
		return Endpoints{}, fmt.Errorf("url must not contain credentials, query or fragment: remove everything from '?' or '#' in %q", redactQuery(s))
	}
	if u.Opaque != "" || u.Host == "" {
		return Endpoints{}, fmt.Errorf("url %q has no host: write it as https://<host>[:port]", s)
	}
	host, err := normaliseHost(scheme, u.Host)
	if err != nil {
		return Endpoints{}, err
	}

	path := strings.TrimRight(u.Path, "/")
	if strings.Contains(path, "//") {
		return Endpoints{}, fmt.Errorf("url path %q contains an empty segment: remove the doubled '/'", u.Path)
	}
	segments := []string{}
	if path != "" {
		segments = strings.Split(strings.TrimPrefix(path, "/"), "/")
	}
	for i, seg := range segments {
		switch seg {
		case "api":
			base := scheme + "://" + host + "/" + strings.Join(segments[:i], "/")
			return Endpoints{}, fmt.Errorf("url must be the platform or Artifactory base URL, not an API path: use %s", strings.TrimRight(base, "/"))
		case "ui":
			return Endpoints{}, fmt.Errorf("url points at the web UI: use the platform URL %s://%s", scheme, host)
		case "v2":
			return Endpoints{}, fmt.Errorf("url points at the Docker registry API: use the platform URL %s://%s", scheme, host)
		}
	}

	platformPath, restPath := "", ""
	switch {
	case len(segments) == 0:
		restPath = artifactoryContext
	case segments[len(segments)-1] == "artifactory":
		restPath = path
		platformPath = strings.TrimSuffix(path, artifactoryContext)
	default:
		// Legacy context (pre-7 SaaS https://acme.jfrog.io/acme) or a proxy prefix: the URL is the base.
		restPath = path
		platformPath = path
	}
	mk := func(p string) *url.URL { return &url.URL{Scheme: scheme, Host: host, Path: p} }
	return Endpoints{
		Platform:     mk(platformPath),
		REST:         mk(restPath),
		RegistryHost: host,
		Insecure:     scheme == "http",
	}, nil
}

// normaliseHost lower-cases the host and drops the scheme's default port so equivalent URLs compare equal.
func normaliseHost(scheme, hostport string) (string, error) {
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = strings.Trim(hostport, "[]")
	}
	if host == "" {
		return "", fmt.Errorf("url %s://%s has no host name", scheme, hostport)
	}
	for _, r := range host {
		if unicode.IsSpace(r) {
			return "", fmt.Errorf("url host %q contains a space", host)
		}
	}
	host = strings.ToLower(host)
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return net.JoinHostPort(host, port), nil
	}
	if strings.Contains(host, ":") { // IPv6 literal
		return "[" + host + "]", nil
	}
	return host, nil
}

// redactQuery keeps a URL's scheme, host and path for an error message; the query may carry tokens.
func redactQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + "…"
	}
	return s
}

// ImageReference returns the pullable reference of an image in a repository through the
// repository-path access method: host/key/image:tag, or host/key/image@sha256:... when tag is a digest.
func ImageReference(registryHost, repositoryKey, image, tag string) string {
	var b strings.Builder
	if registryHost != "" {
		b.WriteString(registryHost)
		b.WriteByte('/')
	}
	if repositoryKey != "" {
		b.WriteString(repositoryKey)
		b.WriteByte('/')
	}
	b.WriteString(strings.Trim(image, "/"))
	switch {
	case tag == "":
	case strings.HasPrefix(tag, "sha256:") || strings.HasPrefix(tag, "sha512:"):
		b.WriteByte('@')
		b.WriteString(tag)
	default:
		b.WriteByte(':')
		b.WriteString(tag)
	}
	return b.String()
}

// SplitRepositoryKeys splits "a, b; c" into [a b c]: commas and semicolons separate keys, blanks
// around them are trimmed, empty items dropped and duplicates removed, order kept.
func SplitRepositoryKeys(s string) []string {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' })
	out := make([]string, 0, len(fields))
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	return out
}

// MaxRepositoryKeyLength is Artifactory's limit on a repository key (RepositoryNameValidator).
const MaxRepositoryKeyLength = 64

// ValidRepositoryKey checks a key against Artifactory's own rule (RepositoryNameValidator): not
// empty, at most 64 characters, none of / \ : | ? * " < >, not "." or "..", and an XML name, i.e.
// it starts with a letter or '_' and continues with letters, digits, '-', '_' or '.'.
func ValidRepositoryKey(key string) error {
	switch {
	case key == "":
		return errors.New("repository key is empty")
	case strings.TrimSpace(key) != key:
		return fmt.Errorf("repository key %q has leading or trailing spaces: remove them", key)
	case len(key) > MaxRepositoryKeyLength:
		return fmt.Errorf("repository key %q is %d characters long; Artifactory allows at most %d", key, len(key), MaxRepositoryKeyLength)
	case key == "." || key == "..":
		return fmt.Errorf("repository key %q is not a valid key", key)
	}
	for i, r := range key {
		switch {
		case r == ' ' || unicode.IsSpace(r):
			return fmt.Errorf("repository key %q contains a space: keys are single words such as docker-local", key)
		case r == '/':
			return fmt.Errorf("repository key %q contains '/': give only the key (e.g. docker-local), not a path or image", key)
		case strings.ContainsRune(`\:|?*"<>,;`, r):
			return fmt.Errorf("repository key %q contains %q, which Artifactory does not allow in keys", key, r)
		case i == 0 && !(unicode.IsLetter(r) || r == '_'):
			return fmt.Errorf("repository key %q must start with a letter or '_', not %q", key, r)
		case !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.'):
			return fmt.Errorf("repository key %q contains %q: use letters, digits, '-', '_' and '.'", key, r)
		}
	}
	return nil
}
