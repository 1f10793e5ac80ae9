//go:build !unix

package store

// lockFile is a no-op where flock is unavailable; SQLite's own locking still keeps
// the data consistent.
func lockFile(string) (func() error, error) { return func() error { return nil }, nil }
