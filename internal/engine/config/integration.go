package config

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

var integrationKeys = []string{
	"name", "base_url", "username",
	"password", "password_env", "password_file",
	"access_token", "access_token_env", "access_token_file",
	"repositories", "image_filters", "ca_file", "insecure_skip_verify",
	"webhook_secret", "webhook_secret_env", "webhook_secret_file",
}

var filterKeys = []string{"repository", "images", "exclude", "tags"}

// Secret sources in order of precedence: a token before a password, inline
// before a reference. Only the first one set is used; the others are warned about.
var (
	tokenKeys    = secretKeys{"access_token", "access_token_env", "access_token_file"}
	passwordKeys = secretKeys{"password", "password_env", "password_file"}
	// webhookKeys carry the secret Artifactory's webhooks for this integration carry.
	webhookKeys = secretKeys{"webhook_secret", "webhook_secret_env", "webhook_secret_file"}
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$`)

// integration decodes one artifactory[] entry (or a fragment file, path "").
func (l *loader) integration(p string, n *node) (Integration, bool) {
	errsBefore := len(l.errs)
	what := "an artifactory integration"
	f, ok := l.object(p, n, what, integrationKeys)
	if !ok {
		return Integration{}, false
	}
	var in Integration

	raw, ok := l.str(fieldPath(p, "base_url"), f["base_url"])
	switch {
	case f["base_url"] == nil || (ok && strings.TrimSpace(raw) == ""):
		l.errorf(fieldPath(p, "base_url"), "is required: the Artifactory URL, e.g. \"https://acme.jfrog.io\"")
	case ok:
		ep, err := artifactory.ParseURL(raw)
		if err != nil {
			l.errorf(fieldPath(p, "base_url"), "%s", redactURLError(raw, err)) // ParseURL's messages say what to write
		} else {
			in.BaseURL = strings.TrimSpace(raw)
			in.Name = ep.Platform.Host
		}
	}

	if name, ok := l.str(fieldPath(p, "name"), f["name"]); ok {
		if !nameRE.MatchString(name) {
			l.errorf(fieldPath(p, "name"), "%q is not a valid name: use letters, digits and . _ : @ / - (at most 128 characters, starting with a letter or digit)", name)
		} else {
			in.Name = name
		}
	}

	if u, ok := l.str(fieldPath(p, "username"), f["username"]); ok {
		in.Username = u
	}
	in.Secret, _ = l.secret(p, f, tokenKeys, passwordKeys)
	if in.Username != "" && in.Secret == "" && l.noSecretKeySet(f, tokenKeys, passwordKeys) {
		l.errorf(fieldPath(p, "username"), "is set without a password or token: set password_env or password_file (or access_token_env), or remove username for anonymous access")
	}

	in.WebhookSecret, _ = l.secret(p, f, webhookKeys)

	var repos []string
	errsBeforeRepos := len(l.errs)
	if r := f["repositories"]; r != nil {
		repos = l.repositories(fieldPath(p, "repositories"), r)
	}
	if fl := f["image_filters"]; fl != nil {
		in.ImageFilters = l.filters(fieldPath(p, "image_filters"), fl)
		for _, flt := range in.ImageFilters {
			if flt.Repository != "" && !contains(repos, flt.Repository) {
				repos = append(repos, flt.Repository)
			}
		}
	}
	in.Repositories = repos
	if len(repos) == 0 && len(l.errs) == errsBeforeRepos { // bad keys were reported already
		l.errorf(fieldPath(p, "repositories"), "no repository to watch: list Docker repository keys in \"repositories\" (e.g. [\"docker-local\"]) or name them in image_filters[].repository")
	}

	if s, ok := l.str(fieldPath(p, "ca_file"), f["ca_file"]); ok && s != "" {
		in.CAFile = l.caFile(fieldPath(p, "ca_file"), s)
	}
	if b, ok := l.boolean(fieldPath(p, "insecure_skip_verify"), f["insecure_skip_verify"]); ok {
		in.InsecureSkipVerify = b
		if b {
			l.warnf(fieldPath(p, "insecure_skip_verify"), "TLS certificate verification is off for this integration: anyone on the network path can read its credentials; prefer ca_file")
		}
	}
	return in, len(l.errs) == errsBefore
}

// repositories accepts an array of keys or one string; every element may
// itself hold several keys separated by commas or semicolons (Backline's format).
func (l *loader) repositories(p string, n *node) []string {
	var elems []string
	var paths []string
	switch n.kind {
	case kindString:
		elems, paths = []string{n.str}, []string{p}
	case kindArray:
		list, ok := l.strings(p, n)
		if !ok {
			return nil
		}
		elems = list
		for i := range list {
			paths = append(paths, indexPath(p, i))
		}
	default:
		l.typeError(p, n, "an array of repository keys")
		return nil
	}
	var out []string
	for i, e := range elems {
		keys := artifactory.SplitRepositoryKeys(e)
		if len(keys) == 0 {
			l.errorf(paths[i], "is empty: give a Docker repository key, e.g. \"docker-local\"")
			continue
		}
		for _, k := range keys {
			if err := artifactory.ValidRepositoryKey(k); err != nil {
				l.errorf(paths[i], "%v", err)
				continue
			}
			if !contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

func (l *loader) filters(p string, n *node) []artifactory.ImageFilter {
	if n.kind != kindArray {
		l.typeError(p, n, "an array of filter objects")
		return nil
	}
	var out []artifactory.ImageFilter
	ok := true
	for i, e := range n.elems {
		fp := indexPath(p, i)
		f, good := l.object(fp, e, "an image filter", filterKeys)
		if !good {
			ok = false
			continue
		}
		var flt artifactory.ImageFilter
		if s, good := l.str(fieldPath(fp, "repository"), f["repository"]); good && s != "" {
			if err := artifactory.ValidRepositoryKey(s); err != nil {
				l.errorf(fieldPath(fp, "repository"), "%v", err)
				ok = false
			} else {
				flt.Repository = s
			}
		}
		flt.Images = l.globs(fieldPath(fp, "images"), f["images"], "images", &ok)
		flt.Exclude = l.globs(fieldPath(fp, "exclude"), f["exclude"], "exclude", &ok)
		if s, good := l.str(fieldPath(fp, "tags"), f["tags"]); good {
			if err := (artifactory.ImageFilter{Tags: s}).Validate(); err != nil {
				l.errorf(fieldPath(fp, "tags"), "%s", trimFieldPrefix(err, "tags"))
				ok = false
			} else {
				flt.Tags = s
			}
		}
		out = append(out, flt)
	}
	if ok {
		// Each field passed on its own; compiling the set is the check the engine relies on.
		if _, err := artifactory.CompileFilters(out); err != nil {
			l.errorf(p, "%v", err)
		}
	}
	return out
}

// globs validates doublestar globs one by one through ImageFilter.Validate so
// that each error names its own index.
func (l *loader) globs(p string, n *node, field string, ok *bool) []string {
	list, good := l.strings(p, n)
	if !good {
		if n != nil {
			*ok = false
		}
		return nil
	}
	var out []string
	for i, g := range list {
		flt := artifactory.ImageFilter{Images: []string{g}}
		if field == "exclude" {
			flt = artifactory.ImageFilter{Exclude: []string{g}}
		}
		if err := flt.Validate(); err != nil {
			l.errorf(indexPath(p, i), "%s", trimFieldPrefix(err, field+"[0]"))
			*ok = false
			continue
		}
		out = append(out, g)
	}
	return out
}

// trimFieldPrefix drops the "<field>: " ImageFilter.Validate puts in front of
// its message: our path already names the field.
func trimFieldPrefix(err error, field string) string {
	msg := err.Error()
	for _, pre := range []string{field + ": ", "image filter: " + field + ": "} {
		if rest, ok := strings.CutPrefix(msg, pre); ok {
			return rest
		}
	}
	return msg
}

// maxCAFile bounds a ca_file read (a large CA bundle is a few hundred KiB).
const maxCAFile = 4 << 20

func (l *loader) caFile(p, s string) string {
	path := l.filePath(s)
	data, err := readLimited(path, maxCAFile)
	if err != nil {
		l.errorf(p, "cannot read %s: %v: give a readable PEM file of CA certificates", path, unwrapPathError(err))
		return ""
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		l.errorf(p, "%s holds no PEM certificate: give a file with \"-----BEGIN CERTIFICATE-----\" blocks", path)
		return ""
	}
	return path
}

// redactURLError renders a ParseURL error without the URL's password or query.
func redactURLError(raw string, err error) string {
	msg := err.Error()
	// Whatever parses or not, text before the last '@' is userinfo: never print it.
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at > 0 {
		if slash := strings.IndexAny(rest, "/?#"); slash < 0 || slash > at {
			msg = strings.ReplaceAll(msg, rest[:at], "REDACTED")
		}
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		if strings.Contains(msg, raw) {
			msg = strings.ReplaceAll(msg, raw, "the URL")
		}
		return msg
	}
	safe := *u
	safe.RawQuery, safe.Fragment, safe.RawFragment = "", "", ""
	if u.User != nil {
		safe.User = url.User(u.User.Username())
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "REDACTED")
		}
	}
	if strings.Contains(msg, raw) {
		msg = strings.ReplaceAll(msg, raw, safe.String())
	}
	if u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, u.RawQuery, "REDACTED")
	}
	return msg
}

// readLimited reads a small file the config points at; a bigger file is the wrong path.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("is a directory")
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("is %d bytes, larger than expected", st.Size())
	}
	return os.ReadFile(path)
}
