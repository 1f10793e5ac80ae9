package analyze

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error is an analysis failure of one reference.
type Error struct {
	Reference  string // image reference analysed (no credentials)
	Op         string // what failed, e.g. "fetch manifest", "parse manifest", "fetch layer sha256:..."
	StatusCode int    // registry HTTP status when the failure came from the registry, else 0
	Permanent  bool   // retrying cannot help: malformed or unsupported content, not found
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("analyze %s: %s: %v", e.Reference, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// SkipError is returned (wrapped) when the manifest is not a container image (Helm chart, signature, other
// OCI artifact). It is not a failure: record the reason and do not retry.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "not a container image: " + e.Reason }

// IsPermanent reports whether retrying err cannot succeed: a malformed manifest, an unsupported media type,
// a manifest or blob that does not exist, a digest mismatch, or a skipped artifact.
func IsPermanent(err error) bool {
	var skip *SkipError
	if errors.As(err, &skip) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// IsSkip returns the skip reason when err says the manifest is not a container image.
func IsSkip(err error) (reason string, ok bool) {
	var skip *SkipError
	if errors.As(err, &skip) {
		return skip.Reason, true
	}
	return "", false
}

// StatusCode is the registry HTTP status behind err, 0 when there is none.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) && e.StatusCode != 0 {
		return e.StatusCode
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// permanentf is a permanent *Error for content problems.
func permanentf(ref, op, format string, args ...any) *Error {
	return &Error{Reference: ref, Op: op, Permanent: true, Err: fmt.Errorf(format, args...)}
}

// registryError wraps an error from a registry call, classifying it as permanent or retryable.
func registryError(ref, op string, err error) *Error {
	e := &Error{Reference: ref, Op: op, Err: err}
	var te *transport.Error
	if errors.As(err, &te) {
		e.StatusCode = te.StatusCode
		switch te.StatusCode {
		case http.StatusNotFound, http.StatusBadRequest, http.StatusGone, http.StatusNotAcceptable,
			http.StatusUnsupportedMediaType, http.StatusNotImplemented:
			e.Permanent = true
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode, transport.ManifestInvalidErrorCode,
				transport.NameUnknownErrorCode, transport.DigestInvalidErrorCode, transport.ManifestBlobUnknownErrorCode:
				e.Permanent = true
			}
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return e
	}
	var mismatch *digestMismatchError
	if errors.As(err, &mismatch) {
		e.Permanent = true
	}
	return e
}

// digestMismatchError: content fetched by digest does not hash to it (a broken or lying registry).
type digestMismatchError struct {
	want, got string
}

func (e *digestMismatchError) Error() string {
	return fmt.Sprintf("content digest %s does not match requested %s", e.got, e.want)
}
