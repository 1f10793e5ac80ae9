package config

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// secretKeys are the keys that can carry one secret: inline, by environment
// variable, or by file.
type secretKeys struct{ inline, env, file string }

// maxSecretFile bounds a *_file read: a secret file holds one line, a bigger
// file is the wrong path.
const maxSecretFile = 64 << 10

// envNameRE is what we are willing to echo as an environment variable name.
// Anything else (a pasted token, a mixed-case password) is described by its
// JSON path instead, so a misplaced secret never reaches an error or a log.
var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// secret resolves the first secret source set in f, taking groups in order
// and within a group inline, then _env, then _file. It records inline
// secrets for the permission warning, warns about sources set but ignored,
// and reports an unset variable or unreadable file as an error.
// set is false when no source is set at all.
func (l *loader) secret(p string, f fields, groups ...secretKeys) (value string, set bool) {
	type source struct{ key, kind, val string }
	var sources []source
	for _, g := range groups {
		for _, k := range []struct{ key, kind string }{{g.inline, "inline"}, {g.env, "env"}, {g.file, "file"}} {
			n := f[k.key]
			if n == nil {
				continue
			}
			// Never echo a value here: a type error on "password": 12345 must not print it.
			if n.kind != kindString {
				l.errorf(fieldPath(p, k.key), "must be a string, not %s", n.kind)
				continue
			}
			if n.str == "" {
				if k.kind != "inline" { // an empty inline secret is "not set" (Scout templates leave "password": "")
					l.errorf(fieldPath(p, k.key), "is empty: name the %s holding the secret, or remove the key", map[string]string{"env": "environment variable", "file": "file"}[k.kind])
				}
				continue
			}
			if k.kind == "inline" {
				l.inline = append(l.inline, fieldPath(p, k.key))
			}
			sources = append(sources, source{k.key, k.kind, n.str})
		}
	}
	if len(sources) == 0 {
		return "", false
	}
	chosen := sources[0]
	if len(sources) > 1 {
		var ignored []string
		for _, s := range sources[1:] {
			ignored = append(ignored, s.key)
		}
		l.warnf(p, "several secret sources are set; %s is used and %s ignored: keep only one", chosen.key, strings.Join(ignored, ", "))
	}
	keyPath := fieldPath(p, chosen.key)
	switch chosen.kind {
	case "inline":
		if l.skipSecrets {
			return "", true
		}
		return chosen.val, true
	case "env":
		if !envNameRE.MatchString(chosen.val) {
			l.errorf(keyPath, "must name an environment variable (upper-case letters, digits and _, e.g. \"JFROG_ACCESS_TOKEN\"); if you pasted the secret itself, move it to %s or a file", strings.TrimSuffix(chosen.key, "_env"))
			return "", true
		}
		if l.skipSecrets {
			return "", true
		}
		v, ok := os.LookupEnv(chosen.val)
		switch {
		case !ok:
			l.errorf(keyPath, "environment variable %s is not set: export it in the engine's environment, or use %s_file", chosen.val, strings.TrimSuffix(chosen.key, "_env"))
			return "", true
		case v == "":
			l.errorf(keyPath, "environment variable %s is empty: set it to the secret", chosen.val)
			return "", true
		}
		return v, true
	default: // file
		if l.skipSecrets {
			return "", true
		}
		path := l.filePath(chosen.val)
		shown := path
		if !filepath.IsAbs(chosen.val) && !strings.HasPrefix(chosen.val, "./") && !strings.HasPrefix(chosen.val, "../") {
			// A bare relative name may be a pasted secret: describe it instead of printing it.
			shown = "the file it names"
		}
		data, err := readLimited(path, maxSecretFile)
		if err != nil {
			l.errorf(keyPath, "cannot read %s: %v: make the secret file readable by the engine's user, or fix the path (relative paths start at %s)", shown, unwrapPathError(err), l.dir)
			return "", true
		}
		v := string(bytes.TrimSpace(data))
		if v == "" {
			l.errorf(keyPath, "%s is empty: write the secret into it", shown)
			return "", true
		}
		return v, true
	}
}

// noSecretKeySet reports whether none of the groups' keys is present.
func (l *loader) noSecretKeySet(f fields, groups ...secretKeys) bool {
	for _, g := range groups {
		for _, k := range []string{g.inline, g.env, g.file} {
			if n := f[k]; n != nil && !(n.kind == kindString && n.str == "") {
				return false
			}
		}
	}
	return true
}
