package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files the provider writes for the engine (its main config and the integration fragments) hold
// settings and, for fragments, credentials: they are written atomically with mode 0600, so the
// engine's hot reload never sees a partial file and no other user can read them.

const (
	engineFileMode = 0o600
	engineDirMode  = 0o700
)

// writeFileAtomic writes data to path through a hidden temporary file in the same directory
// (the engine's integrations_dir reload skips hidden files), fsyncs it and renames it over path.
// Missing parent directories are created with mode 0700.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, engineDirMode); err != nil {
		return fmt.Errorf("cannot create the directory %s: %w", dir, unwrapFSError(err))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory: give the path of a file", path)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, unwrapFSError(err))
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	// CreateTemp uses 0600 already; Chmod makes it independent of that detail.
	if err := tmp.Chmod(engineFileMode); err != nil {
		return fmt.Errorf("cannot set mode 0600 on %s: %w", tmpName, unwrapFSError(err))
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("cannot write %s: %w", tmpName, unwrapFSError(err))
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", tmpName, unwrapFSError(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", tmpName, unwrapFSError(err))
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("cannot move the new file into place at %s: %w", path, unwrapFSError(err))
	}
	ok = true
	// Persist the rename itself; best effort, some file systems refuse to sync a directory.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// mkdirPrivate creates dir (and its parents) with mode 0700 when missing; an existing directory
// keeps its mode.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, engineDirMode); err != nil {
		return fmt.Errorf("cannot create the directory %s: %w", dir, unwrapFSError(err))
	}
	return nil
}

// removeFile deletes path; a file already gone is not an error.
func removeFile(path string) error {
	err := os.Remove(path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("cannot remove %s: %w", path, unwrapFSError(err))
}

// fileOnDisk is what Read finds at a path the provider wrote.
type fileOnDisk struct {
	exists bool
	data   []byte
	mode   fs.FileMode
}

// readEngineFile reads path; a missing file is not an error.
func readEngineFile(path string) (fileOnDisk, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileOnDisk{}, nil
	}
	if err != nil {
		return fileOnDisk{}, fmt.Errorf("cannot read %s: %w", path, unwrapFSError(err))
	}
	if st.IsDir() {
		return fileOnDisk{exists: true, mode: st.Mode()}, nil // not ours any more: drift
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fileOnDisk{}, fmt.Errorf("cannot read %s: %w", path, unwrapFSError(err))
	}
	return fileOnDisk{exists: true, data: data, mode: st.Mode()}, nil
}

// openToOthers reports whether the file is accessible by group or others.
func (f fileOnDisk) openToOthers() bool { return f.mode.Perm()&0o077 != 0 || f.mode.IsDir() }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// unwrapFSError drops the path an *fs.PathError repeats, since messages name the path already.
func unwrapFSError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
