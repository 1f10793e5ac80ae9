package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

// Validate runs Test Connection for every integration of cfg and writes a
// per-repository report to w. ok is false when any check failed; err is only
// for problems that kept the checks from running (bad input, ctx cancelled).
func Validate(ctx context.Context, cfg *config.Config, w io.Writer) (ok bool, err error) {
	if cfg == nil {
		return false, errors.New("validate: no configuration")
	}
	if len(cfg.Integrations) == 0 {
		fmt.Fprintln(w, "no integration configured: add an artifactory[] entry")
		return false, nil
	}
	ok = true
	for i, ic := range cfg.Integrations {
		if i > 0 {
			fmt.Fprintln(w)
		}
		good, err := validateIntegration(ctx, ic, w)
		if err != nil {
			return false, err
		}
		ok = ok && good
	}
	return ok, nil
}

func validateIntegration(ctx context.Context, ic config.Integration, w io.Writer) (bool, error) {
	fmt.Fprintf(w, "integration %q (%s, %s)\n", ic.Name, ic.BaseURL, ic.Credentials())
	client, err := artifactory.New(ic.BaseURL, append(ic.ClientOptions(), artifactory.WithUserAgent(userAgent))...)
	if err != nil {
		fmt.Fprintf(w, "  FAILED  %v\n", err)
		return false, nil
	}
	if _, err := registryAuth(ic); err != nil {
		fmt.Fprintf(w, "  FAILED  registry pulls: %v\n", err)
		return false, nil
	}
	keys := ic.Repositories
	if len(keys) == 0 {
		fmt.Fprintln(w, "  FAILED  no repository keys: set repositories (or image_filters naming repositories)")
		return false, nil
	}
	report, err := client.TestConnection(ctx, keys)
	if err != nil {
		return false, fmt.Errorf("integration %q: %w", ic.Name, err)
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !report.AuthOK {
		fmt.Fprintln(w, "  FAILED  authentication failed: invalid credentials or insufficient permissions")
		if report.AuthError != nil {
			fmt.Fprintf(w, "          %v\n", report.AuthError)
		}
		if report.Hint != "" {
			fmt.Fprintf(w, "          hint: %s\n", report.Hint)
		}
	} else if report.Version.Version != "" {
		fmt.Fprintf(w, "  Artifactory %s: credentials OK\n", report.Version.Version)
	} else {
		fmt.Fprintln(w, "  credentials OK")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range report.Repositories {
		if c.Status == artifactory.StatusOK {
			fmt.Fprintf(tw, "  %s\tOK\t%s\n", c.Key, describeRepo(c.Repository))
		} else {
			fmt.Fprintf(tw, "  %s\tFAILED\t%s: %s\n", c.Key, c.Status, c.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	failed := report.Failed()
	if len(failed) > 0 {
		keys := make([]string, len(failed))
		for i, c := range failed {
			keys[i] = c.Key
		}
		fmt.Fprintf(w, "  repository access failed for: [%s]\n", strings.Join(keys, ", "))
	}
	if report.Hint != "" && report.AuthOK {
		fmt.Fprintf(w, "  hint: %s\n", report.Hint)
	}
	return report.AuthOK && len(failed) == 0, nil
}

func describeRepo(r artifactory.Repository) string {
	if r.Class == "" && r.PackageType == "" {
		return ""
	}
	return strings.TrimSpace(r.Class + " " + r.PackageType)
}
