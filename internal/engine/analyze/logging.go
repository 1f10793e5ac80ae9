package analyze

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	anchorelogger "github.com/anchore/go-logger"
	"github.com/anchore/stereoscope"
	"github.com/anchore/syft/syft"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/hashicorp/go-hclog"
)

// syft, stereoscope and go-containerregistry only offer process-global logger hooks (syft.SetLogger,
// stereoscope.SetLogger, the pkg/logs loggers), read by every goroutine that uses those libraries, so the bridge
// is global too: the first Analyzer's logger receives their logs for the life of the process. It is installed
// without a data race on those globals:
//   - syft's and stereoscope's loggers are set once, in init (before any goroutine can use the libraries), to
//     adapters that forward to atomic pointers, which the first New fills;
//   - ggcr's *log.Logger variables are never reassigned: their output is swapped with SetOutput, which the
//     standard library guards with a mutex (ggcr reads the variables on every request, from any goroutine).
var (
	bridgeOnce sync.Once
	// nil until the first New: library logs are dropped
	syftLogger, stereoscopeLogger atomic.Pointer[hclog.Logger]
)

func init() {
	syft.SetLogger(&anchoreAdapter{target: &syftLogger})
	stereoscope.SetLogger(&anchoreAdapter{target: &stereoscopeLogger})
}

// bridgeLibraryLoggers sends the libraries' logs to l; only the first call of the process has an effect.
func bridgeLibraryLoggers(l hclog.Logger) {
	bridgeOnce.Do(func() {
		syftNamed, stereoscopeNamed := l.Named("syft"), l.Named("stereoscope")
		syftLogger.Store(&syftNamed)
		stereoscopeLogger.Store(&stereoscopeNamed)
		ggcr := l.Named("ggcr")
		logs.Warn.SetFlags(0)
		logs.Warn.SetPrefix("")
		logs.Warn.SetOutput(&hclogWriter{l: ggcr, level: hclog.Warn})
		logs.Progress.SetFlags(0)
		logs.Progress.SetPrefix("")
		logs.Progress.SetOutput(&hclogWriter{l: ggcr, level: hclog.Debug})
		// ggcr's debug log dumps every HTTP exchange (it checks logs.Enabled first, so a discarded Debug costs
		// nothing): only at trace level, and with secret headers redacted (ggcr redacts Authorization itself but
		// not Artifactory's X-JFrog-Art-Api).
		if l.IsTrace() {
			logs.Debug.SetFlags(0)
			logs.Debug.SetPrefix("")
			logs.Debug.SetOutput(&hclogWriter{l: ggcr, level: hclog.Trace, redact: true})
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
	target *atomic.Pointer[hclog.Logger] // nil pointer inside: not bridged yet, logs dropped
	fields []any
}

var _ anchorelogger.Logger = (*anchoreAdapter)(nil)

// logger returns where a line at level goes, or nil when it would be dropped (checked before formatting:
// syft's debug chatter is frequent).
func (a *anchoreAdapter) logger(level hclog.Level) hclog.Logger {
	p := a.target.Load()
	if p == nil || (*p).GetLevel() > level {
		return nil
	}
	return *p
}

func (a *anchoreAdapter) logf(level hclog.Level, format string, args []any) {
	if l := a.logger(level); l != nil {
		l.Log(level, fmt.Sprintf(format, args...), a.fields...)
	}
}

func (a *anchoreAdapter) logln(level hclog.Level, args []any) {
	if l := a.logger(level); l != nil {
		l.Log(level, fmt.Sprint(args...), a.fields...)
	}
}

func (a *anchoreAdapter) Errorf(format string, args ...any) { a.logf(hclog.Error, format, args) }
func (a *anchoreAdapter) Error(args ...any)                 { a.logln(hclog.Error, args) }
func (a *anchoreAdapter) Warnf(format string, args ...any)  { a.logf(hclog.Warn, format, args) }
func (a *anchoreAdapter) Warn(args ...any)                  { a.logln(hclog.Warn, args) }
func (a *anchoreAdapter) Infof(format string, args ...any)  { a.logf(hclog.Debug, format, args) }
func (a *anchoreAdapter) Info(args ...any)                  { a.logln(hclog.Debug, args) }
func (a *anchoreAdapter) Debugf(format string, args ...any) { a.logf(hclog.Trace, format, args) }
func (a *anchoreAdapter) Debug(args ...any)                 { a.logln(hclog.Trace, args) }
func (a *anchoreAdapter) Tracef(format string, args ...any) { a.logf(hclog.Trace, format, args) }
func (a *anchoreAdapter) Trace(args ...any)                 { a.logln(hclog.Trace, args) }

func (a *anchoreAdapter) WithFields(fields ...any) anchorelogger.MessageLogger {
	return a.with(fields)
}

func (a *anchoreAdapter) Nested(fields ...any) anchorelogger.Logger {
	return a.with(fields)
}

func (a *anchoreAdapter) with(fields []any) *anchoreAdapter {
	out := &anchoreAdapter{target: a.target, fields: append([]any{}, a.fields...)}
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
