// Command imagewatch-engine watches Docker repositories in JFrog Artifactory and
// keeps an SBOM and a metadata record for every image pushed there.
//
// This file only parses flags, loads the configuration, builds the logger and
// handles signals; the work is done by internal/engine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const (
	exitOK      = 0
	exitFailure = 1 // runtime failure, or validate found a failing repository
	exitUsage   = 2 // bad flags or bad configuration
)

// shutdownGrace bounds how long the engine may take to checkpoint after
// SIGINT/SIGTERM; the process must be gone within 10 seconds of the signal.
const shutdownGrace = 8 * time.Second

const logLevelEnv = "IMAGEWATCH_LOG_LEVEL"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole CLI: it returns the exit status instead of exiting so
// tests can drive it.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal restore default handling: a second Ctrl-C kills at once.
	go func() {
		<-ctx.Done()
		stop()
	}()

	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "validate":
		return cmdValidate(ctx, rest, stdout, stderr)
	case "images":
		return cmdImages(ctx, rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" && !strings.HasPrefix(rest[0], "-") {
			return run([]string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "imagewatch-engine: unknown command %q\n\n%s", cmd, mainUsage)
		return exitUsage
	}
}

const mainUsage = `Usage: imagewatch-engine <command> [flags]

Watches the Docker repositories of JFrog Artifactory, builds an SBOM and a
metadata record for every image pushed there, and delivers them to the
configured outputs.

Commands:
  run        watch Artifactory and analyse new images (--once: one cycle;
             --backfill-from: analyse images pushed since a time, then exit)
  validate   check the configuration, then test the connection to every
             repository and print a report
  images     list the discovered images, their status, package counts and
             where their SBOMs are (reads the store; works while run runs)
  version    print the version

Run 'imagewatch-engine <command> --help' for the flags of a command.

Environment:
  IMAGEWATCH_LOG_LEVEL  trace, debug, info (default), warn or error

Exit status: 0 success; 1 runtime failure or a failed validation;
2 usage or configuration error.
`

const runUsage = `Usage: imagewatch-engine run --config FILE [--once] [--backfill-from=TIME [--force]]

Polls every integration of the configuration for new or changed images,
analyses each (SBOM and metadata) and delivers the results. Without
--backfill-from, images pushed before the engine first started are not
analysed; the cursor survives restarts. SIGINT/SIGTERM checkpoint and exit.

Flags:
`

const validateUsage = `Usage: imagewatch-engine validate --config FILE

Loads the configuration (exit 2 naming each bad field), then checks the
credentials and every repository of every integration (exists, is a Docker
repository, is readable) and prints a report; exit 1 if any check fails.

Flags:
`

const versionUsage = `Usage: imagewatch-engine version

Prints the version of imagewatch-engine.
`

// parseFlags parses args into fs. It prints help to stdout (status 0) or the
// error and a pointer to --help to stderr (status 2); ok is false in both cases.
func parseFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (status int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK, false
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q (flags go before arguments; this command takes none)", fs.Arg(0))
	}
	if err != nil {
		return usageError(stderr, fs.Name(), err), false
	}
	return 0, true
}

func usageError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "imagewatch-engine %s: %v\nRun 'imagewatch-engine %s --help' for usage.\n", cmd, err, cmd)
	return exitUsage
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	configPath := fs.String("config", "", "path of the engine configuration `file` (JSON)")
	once := fs.Bool("once", false, "run one discovery and analysis cycle, then exit")
	backfill := fs.String("backfill-from", "", "analyse every image pushed since `time` (RFC 3339 such as 2026-01-02T15:04:05Z, or a date 2026-01-02 meaning midnight UTC), then exit")
	force := fs.Bool("force", false, "with --backfill-from: analyse again images already analysed")
	if status, ok := parseFlags(fs, runUsage, args, stdout, stderr); !ok {
		return status
	}
	opts := engine.RunOptions{Once: *once, Force: *force}
	if *backfill != "" {
		t, err := parseBackfillFrom(*backfill, time.Now())
		if err != nil {
			return usageError(stderr, "run", fmt.Errorf("--backfill-from: %w", err))
		}
		opts.BackfillFrom = t
	}
	if *force && opts.BackfillFrom.IsZero() {
		return usageError(stderr, "run", errors.New("--force re-analyses what a backfill finds: use it together with --backfill-from"))
	}
	cfg, logger, status := setup("run", *configPath, stderr)
	if cfg == nil {
		return status
	}

	// The count of artifactory[] entries only: fragments in integrations_dir are logged as they load.
	logger.Info("starting", "version", version, "config", cfg.Path, "inline_integrations", len(cfg.Integrations),
		"integrations_dir", cfg.IntegrationsDir, "listen", cfg.Listen,
		"once", opts.Once, "backfill_from", opts.BackfillFrom, "force", opts.Force)
	eng, err := engine.New(ctx, cfg, logger)
	if err != nil {
		logger.Error("cannot start the engine", "error", err)
		return exitFailure
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx, opts) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		logger.Info("signal received; checkpointing and stopping", "grace", shutdownGrace)
		select {
		case err = <-done:
		case <-time.After(shutdownGrace):
			// Work not checkpointed is redone on restart (the store is crash-safe).
			logger.Error("the engine did not stop in time; exiting anyway", "grace", shutdownGrace)
			return exitFailure
		}
	}
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		logger.Error("engine stopped with an error", "error", err)
		return exitFailure
	}
	logger.Info("stopped")
	return exitOK
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	configPath := fs.String("config", "", "path of the engine configuration `file` (JSON)")
	if status, ok := parseFlags(fs, validateUsage, args, stdout, stderr); !ok {
		return status
	}
	cfg, logger, status := setup("validate", *configPath, stderr)
	if cfg == nil {
		return status
	}
	if cfg.IntegrationsDir != "" {
		// Fragments are configuration too: check them and test their connections as well.
		all, warns, err := cfg.AllIntegrations()
		for _, w := range warns {
			logger.Warn(w)
		}
		if err != nil {
			n := len(config.Errors(err))
			fmt.Fprintf(stderr, "imagewatch-engine validate: invalid integration file (%d problem%s):\n%v\n", n, plural(n), err)
			return exitUsage
		}
		merged := *cfg
		merged.Integrations, merged.IntegrationsDir = all, ""
		cfg = &merged
	}
	ok, err := engine.Validate(ctx, cfg, stdout)
	if err != nil {
		logger.Error("validation could not run", "error", err)
		return exitFailure
	}
	if !ok {
		fmt.Fprintln(stderr, "imagewatch-engine validate: some checks failed; see the report above")
		return exitFailure
	}
	return exitOK
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if status, ok := parseFlags(fs, versionUsage, args, stdout, stderr); !ok {
		return status
	}
	fmt.Fprintf(stdout, "imagewatch-engine %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// setup loads the configuration and builds the one logger. On failure it has
// printed why and returns a nil config with the exit status.
func setup(cmd, path string, stderr io.Writer, opts ...config.LoadOption) (*config.Config, hclog.Logger, int) {
	if path == "" {
		return nil, nil, usageError(stderr, cmd, errors.New("--config is required: give the path of the engine configuration file"))
	}
	level, err := logLevel(os.Getenv(logLevelEnv))
	if err != nil {
		return nil, nil, usageError(stderr, cmd, err)
	}
	cfg, warns, err := config.Load(path, opts...)
	if err != nil {
		for _, w := range warns {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		n := len(config.Errors(err))
		fmt.Fprintf(stderr, "imagewatch-engine %s: invalid configuration (%d problem%s):\n%v\n", cmd, n, plural(n), err)
		return nil, nil, exitUsage
	}
	logger := newLogger(cfg.LogFormat, level, stderr)
	for _, w := range warns {
		logger.Warn(w)
	}
	return cfg, logger, exitOK
}

// newLogger builds the engine's one logger; everything else gets Named() children.
func newLogger(format string, level hclog.Level, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:            "imagewatch-engine",
		Level:           level,
		Output:          w,
		JSONFormat:      format == "json",
		IncludeLocation: level <= hclog.Debug,
		TimeFormat:      time.RFC3339Nano,
	})
}

func logLevel(s string) (hclog.Level, error) {
	if strings.TrimSpace(s) == "" {
		return hclog.Info, nil
	}
	switch l := hclog.LevelFromString(s); l {
	case hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error:
		return l, nil
	}
	return hclog.NoLevel, fmt.Errorf("%s=%q is not a log level: use trace, debug, info, warn or error", logLevelEnv, s)
}

// parseBackfillFrom accepts RFC 3339 (with or without fractional seconds), a
// date-time without zone (taken as UTC) or a date (midnight UTC).
func parseBackfillFrom(s string, now time.Time) (time.Time, error) {
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err = time.Parse(layout, strings.TrimSpace(s)); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-01-02T15:04:05Z, 2026-01-02T15:04:05+02:00) or a date (2026-01-02)", s)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("%s is in the future: give the time from which pushed images are analysed", t.Format(time.RFC3339))
	}
	return t, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
