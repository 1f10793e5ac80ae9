package main

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/api"

	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/inventory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// imageStatuses are the accepted --status values, in the order of the pipeline.
var imageStatuses = inventory.Statuses

const imagesUsage = `Usage: imagewatch-engine images --config FILE [--repository KEY] [--image NAME] [--integration NAME] [--status STATUS] [--json]

Lists what the engine has discovered and analysed, one row per tag, from its
store. The store is opened read-only, so this works while 'imagewatch-engine
run' is running. Secrets the configuration references are not resolved: only
the state and outputs settings are used.

Columns:
  REPOSITORY, IMAGE, TAG  where the tag is in Artifactory
  DIGEST     the manifest or index digest the tag points at, shortened
  PLATFORMS  os/architecture[/variant] of the image or of each platform of
             a multi-platform image
  STATUS     discovered (not analysed yet), pending, running, done, skipped
             (not a container image) or failed. A multi-platform image is
             done once every platform is (skipped ones aside); otherwise it
             shows failed, running or pending, the first that its index or
             any platform is in. --status filters on this status.
  PACKAGES   packages found (summed over platforms); - until analysed
  SBOM       the directory output's folder for the digest, <path>/sha256/<hex>/,
             holding metadata.json and the SBOMs, once delivered there; - before,
             or without a directory output. For a multi-platform image it is
             the index's folder, whose metadata.json lists the platform
             digests (--json gives each platform's folder).

With --json each row is one JSON object on its own line: integration,
repository, image, tag, digest, media_type, reference, status,
failure_reason, skip_reason, package_count, analyzed_at, sbom_dir, sboms
(format -> file) and platforms (platform, digest, status, failure_reason,
skip_reason, package_count, analyzed_at, sbom_dir, sboms each). The same
rows as the engine's GET /api/v1/images.

Exit status: 0 success (also when nothing matches); 1 the store does not
exist yet or cannot be read; 2 bad flags or configuration.

Flags:
`

// imageRow is one tag of the inventory as the images command prints it: the inventory API's row
// plus the directory output's folder of each digest.
type imageRow struct {
	apiImage
	SBOMDir   string        `json:"sbom_dir,omitempty"`
	Platforms []platformRow `json:"platforms"` // shadows the API's, adding sbom_dir
}

// platformRow is one platform manifest of an image.
type platformRow struct {
	apiPlatform
	SBOMDir string `json:"sbom_dir,omitempty"`
}

// Aliases so the embedded fields are not named Image and Platform, which would hide the
// image and platform names they hold.
type (
	apiImage    = api.Image
	apiPlatform = api.Platform
)

func cmdImages(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("images", flag.ContinueOnError)
	configPath := flags.String("config", "", "path of the engine configuration `file` (JSON)")
	repository := flags.String("repository", "", "only tags in the Docker repository with this `key`")
	image := flags.String("image", "", "only tags of the image with this `name` (e.g. team/app)")
	integration := flags.String("integration", "", "only tags found by the integration with this `name`")
	status := flags.String("status", "", "only images in this `status`: "+strings.Join(imageStatuses, ", "))
	asJSON := flags.Bool("json", false, "print one JSON object per line instead of a table")
	if code, ok := parseFlags(flags, imagesUsage, args, stdout, stderr); !ok {
		return code
	}
	filter := store.ListFilter{Integration: *integration, Repository: *repository, Image: strings.Trim(*image, "/")}
	if filter.Repository != "" {
		if err := artifactory.ValidRepositoryKey(filter.Repository); err != nil {
			return usageError(stderr, "images", fmt.Errorf("--repository: %w", err))
		}
	}
	if *status != "" && !slices.Contains(imageStatuses, *status) {
		return usageError(stderr, "images", fmt.Errorf("--status: %q is not a status: use one of %s", *status, strings.Join(imageStatuses, ", ")))
	}
	cfg, logger, code := setup("images", *configPath, stderr, config.WithoutSecrets())
	if cfg == nil {
		return code
	}

	st, err := store.OpenReadOnly(ctx, cfg.State, store.WithLogger(logger))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "imagewatch-engine images: no store at %s: run `imagewatch-engine run` first\n", cfg.State)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "imagewatch-engine images: cannot open the store: %v\n", err)
		return exitFailure
	}
	defer st.Close()

	inv, err := newInventoryReader(st, cfg.Outputs, cfg.SBOMFormats)
	if err != nil {
		fmt.Fprintf(stderr, "imagewatch-engine images: %v\n", err)
		return exitFailure
	}
	rows, err := inv.rows(ctx, filter, *status)
	if err != nil {
		fmt.Fprintf(stderr, "imagewatch-engine images: cannot read the inventory from %s: %v\n", cfg.State, err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(stderr, "imagewatch-engine images: %v\n", err)
				return exitFailure
			}
		}
		return exitOK
	}
	if err := writeImagesTable(stdout, rows); err != nil {
		fmt.Fprintf(stderr, "imagewatch-engine images: %v\n", err)
		return exitFailure
	}
	if len(rows) == 0 {
		if filter != (store.ListFilter{}) || *status != "" {
			fmt.Fprintln(stderr, "no images match the filters")
		} else {
			fmt.Fprintf(stderr, "no images in %s yet: the engine has not discovered any\n", cfg.State)
		}
	}
	return exitOK
}

// inventoryReader renders the inventory rows (inventory.Rows, shared with
// the inventory API) as imageRows.
type inventoryReader struct {
	st      *store.Store
	dir     *inventory.Directory // first directory output; nil when none
	folders map[string]string    // sbom_dir by digest: every tag of a digest shares it
}

func newInventoryReader(st *store.Store, outputs []config.Output, formats []string) (*inventoryReader, error) {
	r := &inventoryReader{st: st, folders: map[string]string{}}
	for _, o := range outputs {
		if o.Type != config.OutputDirectory {
			continue
		}
		d, err := output.NewDirectory(o.Path)
		if err != nil {
			return nil, err
		}
		r.dir = inventory.NewDirectory(d, formats, st)
		break
	}
	return r, nil
}

// rows returns the inventory matching f and, when status is set, whose
// row status (the combined one for a multi-platform image) is status.
func (r *inventoryReader) rows(ctx context.Context, f store.ListFilter, status string) ([]imageRow, error) {
	items, err := r.st.Inventory(ctx, f)
	if err != nil {
		return nil, err
	}
	opts := []inventory.Option{inventory.WithStatus(status)}
	if r.dir != nil {
		opts = append(opts, inventory.WithSBOMLocator(r.dir.SBOMs))
	}
	rows, err := inventory.Rows(ctx, r.st, items, opts...)
	if err != nil {
		return nil, err
	}
	out := make([]imageRow, 0, len(rows))
	for _, row := range rows {
		ir, err := r.row(ctx, row)
		if err != nil {
			return nil, err
		}
		out = append(out, ir)
	}
	return out, nil
}

func (r *inventoryReader) row(ctx context.Context, in inventory.Row) (imageRow, error) {
	img := in.API()
	row := imageRow{apiImage: img, Platforms: make([]platformRow, 0, len(img.Platforms))}
	if !in.Analyzed {
		return row, nil
	}
	var err error
	if row.SBOMDir, err = r.folder(ctx, in.Analysis); err != nil {
		return imageRow{}, err
	}
	for i, p := range in.Platforms {
		pr := platformRow{apiPlatform: img.Platforms[i]}
		if pr.SBOMDir, err = r.folder(ctx, p.Analysis); err != nil {
			return imageRow{}, err
		}
		row.Platforms = append(row.Platforms, pr)
	}
	return row, nil
}

// folder is the directory output's folder of a's digest once it was
// delivered there; "" before, or without a directory output.
func (r *inventoryReader) folder(ctx context.Context, a store.Analysis) (string, error) {
	if r.dir == nil || a.Status != store.StatusDone {
		return "", nil
	}
	if f, ok := r.folders[a.Digest]; ok {
		return f, nil
	}
	f, err := r.dir.Folder(ctx, a.Digest)
	if err != nil {
		return "", err
	}
	r.folders[a.Digest] = f
	return f, nil
}

func writeImagesTable(w io.Writer, rows []imageRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tIMAGE\tTAG\tDIGEST\tPLATFORMS\tSTATUS\tPACKAGES\tSBOM")
	for _, r := range rows {
		platforms := make([]string, 0, len(r.Platforms))
		for _, p := range r.Platforms {
			if p.Platform != "" {
				platforms = append(platforms, p.Platform)
			}
		}
		packages := "-"
		if r.Status == store.StatusDone || r.PackageCount > 0 {
			packages = strconv.Itoa(r.PackageCount)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Image, r.Tag, shortDigest(r.Digest),
			dash(strings.Join(platforms, ",")), r.Status, packages, dash(r.SBOMDir))
	}
	return tw.Flush()
}

// shortDigest keeps the algorithm and the first 12 hex digits, like docker images.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
