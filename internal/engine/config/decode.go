package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// loader walks a parsed tree, collecting every problem instead of stopping at
// the first, so a user can fix the whole file in one go.
type loader struct {
	file   string // shown in errors and warnings
	dir    string // base for relative paths in the file
	errs   []error
	warns  []string
	inline []string // JSON paths holding inline secrets

	skipSecrets bool // WithoutSecrets: check secret references, resolve none
}

func (l *loader) errorf(path, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(path, format string, args ...any) {
	l.warns = append(l.warns, (&Error{File: l.file, Path: path, Msg: fmt.Sprintf(format, args...)}).Error())
}

// fields is an object's members by key; null members are dropped (null = not set).
type fields map[string]*node

// object checks that n is an object whose keys are all in known, reporting
// each unknown key at its own path. ok is false only when n is not an object.
func (l *loader) object(path string, n *node, what string, known []string) (fields, bool) {
	if n.kind != kindObject {
		l.errorf(path, "must be %s (%s), not %s", "an object", what, n.kind)
		return nil, false
	}
	f := fields{}
	for _, m := range n.members {
		if !contains(known, m.key) {
			l.unknownKey(fieldPath(path, m.key), m.key, what, known)
			continue
		}
		if m.val.kind != kindNull {
			f[m.key] = m.val
		}
	}
	return f, true
}

func (l *loader) unknownKey(path, key, what string, known []string) {
	msg := fmt.Sprintf("unknown key %q in %s", key, what)
	if s := suggest(key, known); s != "" {
		msg += fmt.Sprintf(": did you mean %q?", s)
	} else {
		msg += ": remove it; valid keys are " + strings.Join(known, ", ")
	}
	l.errorf(path, "%s", msg)
}

func (l *loader) typeError(path string, n *node, want string) {
	l.errorf(path, "must be %s, not %s", want, n.kind)
}

func (l *loader) str(path string, n *node) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.kind != kindString {
		l.typeError(path, n, "a string")
		return "", false
	}
	return n.str, true
}

func (l *loader) boolean(path string, n *node) (bool, bool) {
	if n == nil {
		return false, false
	}
	if n.kind != kindBool {
		l.typeError(path, n, "true or false")
		return false, false
	}
	return n.b, true
}

func (l *loader) integer(path string, n *node) (int, bool) {
	if n == nil {
		return 0, false
	}
	if n.kind != kindNumber {
		l.typeError(path, n, "a whole number")
		return 0, false
	}
	i, err := n.num.Int64()
	if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
		l.errorf(path, "must be a whole number, not %s", n.num)
		return 0, false
	}
	return int(i), true
}

// strings reads an array of strings, reporting each bad element at its index.
func (l *loader) strings(path string, n *node) ([]string, bool) {
	if n == nil {
		return nil, false
	}
	if n.kind != kindArray {
		l.typeError(path, n, "an array of strings")
		return nil, false
	}
	out := make([]string, 0, len(n.elems))
	ok := true
	for i, e := range n.elems {
		s, good := l.str(indexPath(path, i), e)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// filePath resolves a path from the file relative to the file's directory.
func (l *loader) filePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to key (case-insensitive match or
// edit distance <= 2), or "".
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if strings.EqualFold(k, key) || (len(key) >= 4 && strings.HasPrefix(k, strings.ToLower(key))) {
			return k
		}
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
