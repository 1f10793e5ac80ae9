package config

import (
	"errors"
	"strings"
)

// Error is one problem in a configuration file. Load and LoadIntegration
// return several of them joined with errors.Join; use Errors to list them.
type Error struct {
	File string // the file the problem is in; "" when not from a file
	Path string // JSON path, e.g. `artifactory[0].image_filters[1].tags`; "" for the whole file
	Msg  string // what is wrong and what to do; never holds a secret
}

// Error renders "<file>: <path>: <msg>".
func (e *Error) Error() string {
	parts := make([]string, 0, 3)
	if e.File != "" {
		parts = append(parts, e.File)
	}
	if e.Path != "" {
		parts = append(parts, e.Path)
	}
	parts = append(parts, e.Msg)
	return strings.Join(parts, ": ")
}

// Errors returns every *Error held by err (a single *Error or a join of
// them), in order. Other errors are skipped.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}
