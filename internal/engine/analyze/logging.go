package analyze

import (
	"fmt"
	"log"
	"regexp"
	"strings"
	"sync"

	anchorelogger "github.com/anchore/go-logger"
	"github.com/anchore/stereoscope"
	"github.com/anchore/syft/syft"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/hashicorp/go-hclog"
)

// bridgeOnce guards the library loggers: syft, stereoscope and go-containerregistry only offer process-global
// logger hooks (syft.SetLogger, stereoscope.SetLogger, logs.Warn/Progress/Debug), so the first Analyzer's
// logger receives them for the life of the process. Setting them again would race with analyses in flight.
var bridgeOnce sync.Once

func bridgeLibraryLoggers(l hclog.Logger) {
	bridgeOnce.Do(func() {
		syft.SetLogger(&anchoreAdapter{l: l.Named("syft")})
		stereoscope.SetLogger(&anchoreAdapter{l: l.Named("stereoscope")})
		ggcr := l.Named("ggcr")
		logs.Warn = log.New(&hclogWriter{l: ggcr, level: hclog.Warn}, "", 0)
		logs.Progress = log.New(&hclogWriter{l: ggcr, level: hclog.Debug}, "", 0)
		// ggcr's debug log dumps every HTTP exchange: only at trace level, and with secret headers redacted
		// (ggcr redacts Authorization itself but not Artifactory's X-JFrog-Art-Api).
		if l.IsTrace() {
			logs.Debug = log.New(&hclogWriter{l: ggcr, level: hclog.Trace, redact: true}, "", 0)
		}
	})
}

// secretHeader matches header lines whose value is a credential.
var secretHeader = regexp.MustCompile(`(?im)^(authorization|proxy-authorization|x-jfrog-art-api|cookie|set-cookie|x-api-key):[^\r\n]*`)

// hclogWriter turns a standard library logger's lines into hclog entries.
type hclogWriter struct {
	l      hclog.Logger
	level  hclog.Level
	redact bool
}

func (w *hclogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\r\n")
	if w.redact {
		msg = secretHeader.ReplaceAllString(msg, "$1: <redacted>")
	}
	w.l.Log(w.level, msg)
	return len(p), nil
}

// anchoreAdapter implements anchore's go-logger interface (syft, stereoscope) over hclog. Library "info"
// lines are per-task chatter, so they are logged at debug; debug and trace go to trace.
type anchoreAdapter struct {
	l      hclog.Logger
	fields []any
}

var _ anchorelogger.Logger = (*anchoreAdapter)(nil)

func (a *anchoreAdapter) log(level hclog.Level, msg string) {
	if a.l.GetLevel() > level {
		return
	}
	a.l.Log(level, msg, a.fields...)
}

func (a *anchoreAdapter) Errorf(format string, args ...any) {
	a.log(hclog.Error, fmt.Sprintf(format, args...))
}
func (a *anchoreAdapter) Error(args ...any) { a.log(hclog.Error, fmt.Sprint(args...)) }
func (a *anchoreAdapter) Warnf(format string, args ...any) {
	a.log(hclog.Warn, fmt.Sprintf(format, args...))
}
func (a *anchoreAdapter) Warn(args ...any) { a.log(hclog.Warn, fmt.Sprint(args...)) }
func (a *anchoreAdapter) Infof(format string, args ...any) {
	a.log(hclog.Debug, fmt.Sprintf(format, args...))
}
func (a *anchoreAdapter) Info(args ...any) { a.log(hclog.Debug, fmt.Sprint(args...)) }
func (a *anchoreAdapter) Debugf(format string, args ...any) {
	a.log(hclog.Trace, fmt.Sprintf(format, args...))
}
func (a *anchoreAdapter) Debug(args ...any) { a.log(hclog.Trace, fmt.Sprint(args...)) }
func (a *anchoreAdapter) Tracef(format string, args ...any) {
	a.log(hclog.Trace, fmt.Sprintf(format, args...))
}
func (a *anchoreAdapter) Trace(args ...any) { a.log(hclog.Trace, fmt.Sprint(args...)) }

func (a *anchoreAdapter) WithFields(fields ...any) anchorelogger.MessageLogger {
	return a.with(fields)
}

func (a *anchoreAdapter) Nested(fields ...any) anchorelogger.Logger {
	return a.with(fields)
}

func (a *anchoreAdapter) with(fields []any) *anchoreAdapter {
	out := &anchoreAdapter{l: a.l, fields: append([]any{}, a.fields...)}
	for i := 0; i < len(fields); i++ {
		switch f := fields[i].(type) {
		case anchorelogger.Fields:
			for k, v := range f {
				out.fields = append(out.fields, k, v)
			}
		case map[string]any:
			for k, v := range f {
				out.fields = append(out.fields, k, v)
			}
		default:
			if i+1 < len(fields) {
				out.fields = append(out.fields, fmt.Sprint(fields[i]), fields[i+1])
				i++
			} else {
				out.fields = append(out.fields, "extra", f)
			}
		}
	}
	return out
}
