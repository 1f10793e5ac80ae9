package output

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Files are owner-only: results are read by the operator's tooling running as the
// engine's user; SBOMs reveal what runs where, so no group or world access.
const (
	fileMode = 0o600
	dirMode  = 0o700
	// tmpMarker is in the name of every temporary file, so leftovers of a crash
	// are recognisable and removed by the next delivery of the same digest.
	tmpMarker = ".tmp-"
	// staleTempAge keeps a concurrent delivery's fresh temporary file safe from removal.
	staleTempAge = 5 * time.Minute
)

// Directory writes <dir>/<algorithm>/<hex>/ with metadata.json and one
// sbom.<format>.json per SBOM. Every file is written to a temporary file in the
// same directory, fsynced and renamed over the final name, so readers see either
// the previous or the new complete file, never a partial one. metadata.json is
// written last: its presence means the directory is complete.
type Directory struct {
	dir string
	log hclog.Logger
}

var _ Output = (*Directory)(nil)

// NewDirectory returns a directory output rooted at dir (created 0700 on first delivery).
func NewDirectory(dir string, opts ...Option) (*Directory, error) {
	if dir == "" {
		return nil, errors.New("directory output: path is empty: set outputs[].path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("directory output: path %q: %w", dir, err)
	}
	o := buildOptions(opts)
	return &Directory{dir: abs, log: o.logger.Named("directory")}, nil
}

// Name is "directory:<absolute path>".
func (d *Directory) Name() string { return "directory:" + d.dir }

// Dir is the root directory.
func (d *Directory) Dir() string { return d.dir }

// PathFor returns the directory that holds digest's files.
func (d *Directory) PathFor(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(d.dir, algo, hex)
}

// SBOMPaths returns where Deliver puts digest's SBOM of each of formats
// (format -> absolute path). Unknown formats are left out. It only computes
// paths: whether the files exist depends on the digest having been delivered.
func (d *Directory) SBOMPaths(digest string, formats []string) map[string]string {
	out := make(map[string]string, len(formats))
	dir := d.PathFor(digest)
	for _, f := range formats {
		if name, ok := sbomFileNames[f]; ok {
			out[f] = filepath.Join(dir, name)
		}
	}
	return out
}

// Deliver writes a's files. Re-delivery replaces them with the same content.
func (d *Directory) Deliver(ctx context.Context, a Artifact) error {
	h, err := a.Header()
	if err != nil {
		return err
	}
	if err := validateSBOMs(a.SBOMs); err != nil {
		return err
	}
	var meta bytes.Buffer
	if err := json.Indent(&meta, a.Metadata, "", "  "); err != nil {
		return permanent(fmt.Errorf("directory output: metadata of %s: %w", h.Digest, err))
	}
	meta.WriteByte('\n')

	target := d.PathFor(h.Digest)
	if err := mkdirAllSynced(target); err != nil {
		return fmt.Errorf("directory output: %w", err)
	}
	removeStaleTemps(target, d.log)

	formats := make([]string, 0, len(a.SBOMs))
	for f := range a.SBOMs {
		formats = append(formats, f)
	}
	sort.Strings(formats)
	for _, f := range formats {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeFileAtomic(target, sbomFileNames[f], a.SBOMs[f]); err != nil {
			return fmt.Errorf("directory output: %w", err)
		}
	}
	if err := writeFileAtomic(target, MetadataFile, meta.Bytes()); err != nil {
		return fmt.Errorf("directory output: %w", err)
	}
	// Make the renames durable before the caller marks the delivery done.
	if err := syncDir(target); err != nil {
		return fmt.Errorf("directory output: %w", err)
	}
	d.log.Debug("delivered", "digest", h.Digest, "path", target, "sboms", len(formats))
	return nil
}

// writeFileAtomic writes data to dir/name through a temporary file and a rename.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(fileMode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s into place: %w", name, err)
	}
	return nil
}

// mkdirAllSynced creates dir and its missing parents with dirMode, fsyncing each
// parent whose entries changed so the new directories survive a crash.
func mkdirAllSynced(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // created concurrently
		}
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeStaleTemps deletes temporary files a crashed delivery left in dir.
func removeStaleTemps(dir string, log hclog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.Contains(n, tmpMarker) || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleTempAge {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err == nil {
			log.Debug("removed leftover temporary file", "file", n)
		}
	}
}
