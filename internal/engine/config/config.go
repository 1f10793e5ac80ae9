// Package config loads the engine's configuration file: a strict JSON superset
// of Docker Scout's Artifactory agent config.json (see DESIGN.md).
//
// Relative paths in a file (state, ca_file, *_file, outputs[].path,
// integrations_dir) are resolved against the directory of that file.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// Defaults (CONTRACTS.md).
const (
	DefaultStateFile    = "imagewatch.db"
	DefaultResultsDir   = "results"
	DefaultPollInterval = 60 * time.Second
	DefaultSBOMFormat   = FormatCycloneDXJSON
	DefaultLogFormat    = "text"

	// MinPollInterval keeps a typo ("60ms") from hammering Artifactory.
	MinPollInterval = time.Second
)

// SBOM formats.
const (
	FormatCycloneDXJSON = "cyclonedx-json"
	FormatSPDXJSON      = "spdx-json"
	FormatSyftJSON      = "syft-json"
)

// SBOMFormats lists the accepted sbom_formats values.
var SBOMFormats = []string{FormatCycloneDXJSON, FormatSPDXJSON, FormatSyftJSON}

// Output types.
const (
	OutputDirectory       = "directory"
	OutputHTTP            = "http"
	OutputDependencyTrack = "dependency_track"
)

// OutputTypes lists the accepted outputs[].type values.
var OutputTypes = []string{OutputDirectory, OutputHTTP, OutputDependencyTrack}

// Config is a loaded and validated engine configuration with defaults applied.
type Config struct {
	Path            string // absolute path of the file loaded
	AgentID         string
	Integrations    []Integration // the artifactory[] entries; integrations_dir fragments are loaded by LoadDir
	IntegrationsDir string        // absolute; "" when not set
	State           string        // sqlite file path; default <dir>/imagewatch.db
	Outputs         []Output      // default: [{Type:"directory", Path:<dir>/results}]
	SBOMFormats     []string      // default ["cyclonedx-json"]
	PollInterval    time.Duration // default 60s
	Workers         int           // default runtime.NumCPU()
	Listen          string        // host:port of the health/metrics/inventory API; "" = off
	APIToken        string        `json:"-"` // bearer token required by the inventory API; "" = open; never printed
	LogFormat       string        // "text" (default) | "json"
	Unused          []string      // JSON paths accepted but unused, e.g. "docker"
}

// Integration is one Artifactory instance to watch.
type Integration struct {
	Name               string // default: base_url host
	BaseURL            string
	Username           string
	Secret             string `json:"-"` // resolved password / access token; never printed
	WebhookSecret      string `json:"-"` // secret Artifactory's webhooks must carry; "" = webhooks refused; never printed
	Repositories       []string
	ImageFilters       []artifactory.ImageFilter
	CAFile             string // absolute; "" = system roots
	InsecureSkipVerify bool
	Source             string // absolute path of the integrations_dir fragment it came from; "" for artifactory[]
}

// Credentials returns how the integration authenticates.
func (i Integration) Credentials() artifactory.Credentials {
	return artifactory.Credentials{Username: i.Username, Secret: i.Secret}
}

// ClientOptions returns the artifactory.Client options for the integration's
// credentials and TLS settings.
func (i Integration) ClientOptions() []artifactory.Option {
	opts := []artifactory.Option{artifactory.WithCredentials(i.Credentials())}
	if i.CAFile != "" {
		opts = append(opts, artifactory.WithCAFile(i.CAFile))
	}
	if i.InsecureSkipVerify {
		opts = append(opts, artifactory.WithInsecureSkipVerify(true))
	}
	return opts
}

// Output is one destination for results. Token and APIKey are resolved
// secrets and are never printed.
type Output struct {
	Type   string // directory | http | dependency_track
	Path   string // directory: absolute path
	URL    string // http, dependency_track
	Token  string `json:"-"` // http: bearer token (optional)
	APIKey string `json:"-"` // dependency_track: X-Api-Key
}

// Load reads, validates and defaults the configuration file at path. It
// returns warnings (unused keys, a file readable by others, ignored secret
// sources) and, on failure, every problem found joined with errors.Join; each
// is a *Error naming the JSON path.
func Load(path string, opts ...LoadOption) (*Config, []string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, &Error{File: path, Msg: err.Error()}
	}
	l := newLoader(abs)
	for _, o := range opts {
		o(l)
	}
	root, err := l.readFile(abs)
	if err != nil {
		return nil, nil, err
	}
	cfg := l.config(root)
	l.checkPermissions(abs)
	if len(l.errs) > 0 {
		return nil, l.warns, errors.Join(l.errs...)
	}
	return cfg, l.warns, nil
}

// LoadOption changes how Load reads a configuration.
type LoadOption func(*loader)

// WithoutSecrets makes Load check secret references (types, variable names)
// without resolving them: no environment lookup, no secret file read, and
// every secret field (Secret, WebhookSecret, APIToken, Token, APIKey) stays
// empty. For commands that only need the configuration's paths, so an
// operator can run them without the engine's credentials.
func WithoutSecrets() LoadOption { return func(l *loader) { l.skipSecrets = true } }

// LoadIntegration loads one fragment of integrations_dir: a JSON object with
// the schema of one artifactory[] entry. Error paths are relative to the
// fragment, and errors name the fragment file.
func LoadIntegration(path string) (Integration, error) {
	in, _, err := loadFragment(path)
	return in, err
}

// LoadDir loads every *.json fragment of an integrations_dir in name order
// (hidden files and other extensions are skipped) and rejects integration
// names used twice. Warnings as for Load. On error it still returns the
// fragments that loaded, so a hot reload can keep watching them.
func LoadDir(dir string) ([]Integration, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, &Error{File: dir, Msg: fmt.Sprintf("cannot read integrations_dir: %v", unwrapPathError(err))}
	}
	var (
		out   []Integration
		warns []string
		errs  []error
		names = map[string]string{}
	)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		in, w, err := loadFragment(p)
		warns = append(warns, w...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := names[in.Name]; dup {
			errs = append(errs, &Error{File: p, Path: "name", Msg: fmt.Sprintf("integration name %q is already used by %s: give each integration a distinct name", in.Name, prev)})
			continue
		}
		names[in.Name] = p
		out = append(out, in)
	}
	return out, warns, errors.Join(errs...)
}

// AllIntegrations returns the artifactory[] entries followed by the fragments
// of IntegrationsDir as they are on disk now (call it again to reload). A
// fragment whose name an artifactory[] entry already uses is an error; the
// integrations that loaded are returned in any case.
func (c *Config) AllIntegrations() ([]Integration, []string, error) {
	out := append([]Integration(nil), c.Integrations...)
	if c.IntegrationsDir == "" {
		return out, nil, nil
	}
	frags, warns, err := LoadDir(c.IntegrationsDir)
	errs := []error{err}
	names := map[string]int{}
	for i, in := range c.Integrations {
		names[in.Name] = i
	}
	for _, in := range frags {
		if i, dup := names[in.Name]; dup {
			errs = append(errs, &Error{File: c.IntegrationsDir, Msg: fmt.Sprintf("a fragment defines integration %q, already defined by artifactory[%d] of %s: give it a distinct name", in.Name, i, c.Path)})
			continue
		}
		out = append(out, in)
	}
	return out, warns, errors.Join(errs...)
}

func loadFragment(path string) (Integration, []string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Integration{}, nil, &Error{File: path, Msg: err.Error()}
	}
	l := newLoader(abs)
	root, err := l.readFile(abs)
	if err != nil {
		return Integration{}, nil, err
	}
	in, _ := l.integration("", root)
	l.checkPermissions(abs)
	if len(l.errs) > 0 {
		return Integration{}, l.warns, errors.Join(l.errs...)
	}
	in.Source = abs
	return in, l.warns, nil
}

func newLoader(abs string) *loader {
	return &loader{file: abs, dir: filepath.Dir(abs)}
}

func (l *loader) readFile(abs string) (*node, error) {
	st, err := os.Stat(abs)
	if err != nil {
		return nil, &Error{File: abs, Msg: fmt.Sprintf("cannot read the configuration file: %v", unwrapPathError(err))}
	}
	if st.IsDir() {
		return nil, &Error{File: abs, Msg: "is a directory: give the path of the JSON configuration file"}
	}
	if st.Size() > 16<<20 {
		return nil, &Error{File: abs, Msg: fmt.Sprintf("is %d bytes: a configuration file is expected to be small JSON; check the path", st.Size())}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &Error{File: abs, Msg: fmt.Sprintf("cannot read the configuration file: %v", unwrapPathError(err))}
	}
	return parseJSON(abs, data)
}

// checkPermissions warns when the file is accessible by group or others.
func (l *loader) checkPermissions(abs string) {
	st, err := os.Stat(abs)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	msg := fmt.Sprintf("%s is accessible by group or others (mode %04o): run \"chmod 600 %s\" (in Kubernetes, set defaultMode 0600 or 0400 on the volume)", abs, st.Mode().Perm(), abs)
	if len(l.inline) > 0 {
		msg += fmt.Sprintf("; it holds inline secrets (%s) that other users of this machine can read. Prefer *_env or *_file references", strings.Join(l.inline, ", "))
	}
	l.warns = append(l.warns, msg)
}

var topLevelKeys = []string{
	"agent_id", "docker", "artifactory", "integrations_dir", "state", "outputs",
	"sbom_formats", "poll_interval", "workers", "listen", "log_format",
	"api_token", "api_token_env", "api_token_file",
}

// apiTokenKeys carry the bearer token of the inventory API.
var apiTokenKeys = secretKeys{"api_token", "api_token_env", "api_token_file"}

func (l *loader) config(root *node) *Config {
	cfg := &Config{
		Path:         l.file,
		State:        filepath.Join(l.dir, DefaultStateFile),
		Outputs:      []Output{{Type: OutputDirectory, Path: filepath.Join(l.dir, DefaultResultsDir)}},
		SBOMFormats:  []string{DefaultSBOMFormat},
		PollInterval: DefaultPollInterval,
		Workers:      runtime.NumCPU(),
		LogFormat:    DefaultLogFormat,
	}
	f, ok := l.object("", root, "the configuration", topLevelKeys)
	if !ok {
		return cfg
	}
	if s, ok := l.str("agent_id", f["agent_id"]); ok {
		cfg.AgentID = s
	}
	if n := f["docker"]; n != nil {
		l.docker(n)
		cfg.Unused = append(cfg.Unused, "docker")
	}
	if n := f["artifactory"]; n != nil {
		if n.kind != kindArray {
			l.typeError("artifactory", n, "an array of integration objects")
		} else {
			names := map[string]int{}
			for i, e := range n.elems {
				p := indexPath("artifactory", i)
				in, ok := l.integration(p, e)
				if in.Name != "" { // checked even when the entry has other errors, so all are reported at once
					if prev, dup := names[in.Name]; dup {
						l.errorf(fieldPath(p, "name"), "integration name %q is already used by artifactory[%d]: give each integration a distinct \"name\" (names default to the base_url host)", in.Name, prev)
						continue
					}
					names[in.Name] = i
				}
				if ok {
					cfg.Integrations = append(cfg.Integrations, in)
				}
			}
		}
	}
	if s, ok := l.str("integrations_dir", f["integrations_dir"]); ok {
		if s == "" {
			l.errorf("integrations_dir", "must not be empty: give a directory or remove the key")
		} else {
			dir := l.filePath(s)
			if st, err := os.Stat(dir); err != nil {
				l.errorf("integrations_dir", "cannot use %s: %v: create the directory or remove the key", dir, unwrapPathError(err))
			} else if !st.IsDir() {
				l.errorf("integrations_dir", "%s is not a directory: it must be a directory holding one integration JSON file each", dir)
			} else {
				cfg.IntegrationsDir = dir
			}
		}
	}
	if f["artifactory"] == nil && f["integrations_dir"] == nil {
		l.errorf("artifactory", "no integration configured: add at least one artifactory[] entry (base_url, credentials, repositories) or set integrations_dir")
	}
	if s, ok := l.str("state", f["state"]); ok {
		if p, ok := l.statePath(s); ok {
			cfg.State = p
		}
	}
	if n := f["outputs"]; n != nil {
		if outs, ok := l.outputs(n); ok {
			cfg.Outputs = outs
		}
	}
	if n := f["sbom_formats"]; n != nil {
		if formats, ok := l.sbomFormats(n); ok {
			cfg.SBOMFormats = formats
		}
	}
	if n := f["poll_interval"]; n != nil && n.kind == kindNumber {
		l.errorf("poll_interval", "must be a duration string with a unit, e.g. \"%ss\", not a number", n.num)
	} else if s, ok := l.str("poll_interval", n); ok {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			l.errorf("poll_interval", "%q is not a duration: write it like \"60s\", \"5m\" or \"1h\"", s)
		case d < MinPollInterval:
			l.errorf("poll_interval", "%s is too short: use at least %s", d, MinPollInterval)
		default:
			cfg.PollInterval = d
		}
	}
	if w, ok := l.integer("workers", f["workers"]); ok {
		if w < 1 {
			l.errorf("workers", "must be at least 1 (it is %d); remove it to use one worker per CPU (%d)", w, runtime.NumCPU())
		} else {
			cfg.Workers = w
		}
	}
	if s, ok := l.str("listen", f["listen"]); ok && s != "" {
		if err := checkListen(s); err != nil {
			l.errorf("listen", "%v: write host:port, e.g. \"127.0.0.1:9090\" or \":9090\"", err)
		} else {
			cfg.Listen = s
		}
	}
	cfg.APIToken, _ = l.secret("", f, apiTokenKeys)
	l.checkAPIExposure(cfg, f)
	if s, ok := l.str("log_format", f["log_format"]); ok {
		switch s {
		case "text", "json":
			cfg.LogFormat = s
		default:
			l.errorf("log_format", "%q is not a log format: use \"text\" or \"json\"", s)
		}
	}
	return cfg
}

// docker is Docker Scout's Docker Hub section. imagewatch does not upload to
// Docker Scout; the section is accepted so a Scout config loads unchanged.
func (l *loader) docker(n *node) {
	if n.kind != kindObject {
		l.typeError("docker", n, "an object (Docker Scout's docker section)")
		return
	}
	for _, m := range n.members {
		if m.key == "pat" || m.key == "password" {
			if m.val.kind == kindString && m.val.str != "" {
				l.inline = append(l.inline, fieldPath("docker", m.key))
			}
		}
	}
	l.warnf("docker", "Docker Scout's Docker Hub settings are not used by imagewatch (results go to \"outputs\"); the section is ignored and can be removed")
}

func (l *loader) statePath(s string) (string, bool) {
	p := s
	if rest, ok := strings.CutPrefix(s, "sqlite://"); ok {
		p = rest
	} else if i := strings.Index(s, "://"); i > 0 {
		l.errorf("state", "unsupported store %q: the store is an SQLite file; give a path or \"sqlite:///absolute/path.db\"", s[:i])
		return "", false
	}
	if p == "" {
		l.errorf("state", "must name the SQLite file, e.g. \"sqlite:///var/lib/imagewatch/imagewatch.db\", or be removed for the default beside the config file")
		return "", false
	}
	p = l.filePath(p)
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		l.errorf("state", "%s is a directory: give the path of the SQLite file, e.g. %s", p, filepath.Join(p, DefaultStateFile))
		return "", false
	}
	return p, true
}

// checkAPIExposure warns about an inventory API reachable from other machines
// without a token, and about a token that protects nothing.
func (l *loader) checkAPIExposure(cfg *Config, f fields) {
	switch {
	case cfg.Listen != "" && cfg.APIToken == "" && l.noSecretKeySet(f, apiTokenKeys) && !isLoopback(cfg.Listen):
		l.warnf("listen", "%q accepts connections from other machines and no api_token is set: anyone who can reach it can read the image inventory (/api/v1/images); set api_token_env or api_token_file, or listen on 127.0.0.1", cfg.Listen)
	case f["listen"] == nil && !l.noSecretKeySet(f, apiTokenKeys):
		l.warnf("api_token", "is set but \"listen\" is not, so the inventory API it protects is off: set listen (e.g. \"127.0.0.1:9090\") or remove the token")
	}
}

// isLoopback reports whether a valid listen address only accepts local
// connections. Host names other than localhost count as exposed: what they
// resolve to is not known without a lookup.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false // ":9090" listens on every interface
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("%q has an invalid host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", s)
	}
	return nil
}

func (l *loader) sbomFormats(n *node) ([]string, bool) {
	list, ok := l.strings("sbom_formats", n)
	if !ok {
		return nil, false
	}
	if len(list) == 0 {
		l.errorf("sbom_formats", "is empty: list at least one of %s, or remove it for %s", strings.Join(SBOMFormats, ", "), DefaultSBOMFormat)
		return nil, false
	}
	var out []string
	for i, s := range list {
		if !contains(SBOMFormats, s) {
			msg := fmt.Sprintf("unknown SBOM format %q: use one of %s", s, strings.Join(SBOMFormats, ", "))
			if sg := suggest(s, SBOMFormats); sg != "" {
				msg = fmt.Sprintf("unknown SBOM format %q: did you mean %q?", s, sg)
			}
			l.errorf(indexPath("sbom_formats", i), "%s", msg)
			ok = false
			continue
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out, ok
}

var outputKeys = map[string][]string{
	OutputDirectory:       {"type", "path"},
	OutputHTTP:            {"type", "url", "token", "token_env", "token_file"},
	OutputDependencyTrack: {"type", "url", "api_key", "api_key_env", "api_key_file"},
}

var allOutputKeys = []string{"type", "path", "url", "token", "token_env", "token_file", "api_key", "api_key_env", "api_key_file"}

func (l *loader) outputs(n *node) ([]Output, bool) {
	if n.kind != kindArray {
		l.typeError("outputs", n, "an array of output objects")
		return nil, false
	}
	if len(n.elems) == 0 {
		l.errorf("outputs", "is empty: results would go nowhere; add an output or remove the key for the default directory output")
		return nil, false
	}
	var outs []Output
	seen := map[string]int{}
	ok := true
	for i, e := range n.elems {
		p := indexPath("outputs", i)
		o, good := l.output(p, e)
		if !good {
			ok = false
			continue
		}
		id := o.Type + " " + o.Path + o.URL
		if prev, dup := seen[id]; dup {
			l.errorf(p, "same %s output as outputs[%d]: remove one", o.Type, prev)
			ok = false
			continue
		}
		seen[id] = i
		outs = append(outs, o)
	}
	return outs, ok
}

func (l *loader) output(p string, n *node) (Output, bool) {
	errsBefore := len(l.errs)
	f, ok := l.object(p, n, "an output", allOutputKeys)
	if !ok {
		return Output{}, false
	}
	typ, ok := l.str(fieldPath(p, "type"), f["type"])
	if !ok {
		if f["type"] == nil {
			l.errorf(fieldPath(p, "type"), "is required: use one of %s", strings.Join(OutputTypes, ", "))
		}
		return Output{}, false
	}
	allowed, known := outputKeys[typ]
	if !known {
		msg := fmt.Sprintf("unknown output type %q: use one of %s", typ, strings.Join(OutputTypes, ", "))
		if sg := suggest(typ, OutputTypes); sg != "" {
			msg = fmt.Sprintf("unknown output type %q: did you mean %q?", typ, sg)
		}
		l.errorf(fieldPath(p, "type"), "%s", msg)
		return Output{}, false
	}
	for _, m := range n.members {
		if contains(allOutputKeys, m.key) && !contains(allowed, m.key) {
			l.errorf(fieldPath(p, m.key), "is not used by a %s output: remove it (a %s output takes %s)", typ, typ, strings.Join(allowed[1:], ", "))
		}
	}
	o := Output{Type: typ}
	switch typ {
	case OutputDirectory:
		s, ok := l.str(fieldPath(p, "path"), f["path"])
		if !ok || s == "" {
			if f["path"] == nil || ok {
				l.errorf(fieldPath(p, "path"), "is required: the directory results are written to")
			}
		} else {
			o.Path = l.filePath(s)
			if st, err := os.Stat(o.Path); err == nil && !st.IsDir() {
				l.errorf(fieldPath(p, "path"), "%s exists and is not a directory", o.Path)
			}
		}
	case OutputHTTP, OutputDependencyTrack:
		o.URL = l.httpURL(fieldPath(p, "url"), f["url"])
		if typ == OutputHTTP {
			o.Token, _ = l.secret(p, f, secretKeys{"token", "token_env", "token_file"})
		} else {
			key, set := l.secret(p, f, secretKeys{"api_key", "api_key_env", "api_key_file"})
			if !set {
				l.errorf(fieldPath(p, "api_key_env"), "Dependency-Track needs an API key: set api_key_env (or api_key_file) to a key with the BOM_UPLOAD and PROJECT_CREATION_UPLOAD permissions")
			}
			o.APIKey = key
		}
	}
	return o, len(l.errs) == errsBefore
}

// httpURL validates an output URL without ever echoing it (it may carry a key in its query).
func (l *loader) httpURL(p string, n *node) string {
	s, ok := l.str(p, n)
	if !ok {
		if n == nil {
			l.errorf(p, "is required: the http(s) URL to send results to")
		}
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case s == "":
		l.errorf(p, "is required: the http(s) URL to send results to")
	case err != nil:
		l.errorf(p, "is not a valid URL: write it like \"https://host/path\"")
	case u.Scheme != "http" && u.Scheme != "https":
		l.errorf(p, "must use http or https")
	case u.Host == "":
		l.errorf(p, "has no host: write it like \"https://host/path\"")
	case u.User != nil:
		l.errorf(p, "must not contain credentials: put the secret in the output's token or api_key (preferably *_env or *_file)")
	case u.Fragment != "":
		l.errorf(p, "must not contain a #fragment")
	default:
		return s
	}
	return ""
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
