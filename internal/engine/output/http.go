package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// EnvelopeSchema identifies the JSON envelope the http output POSTs.
const EnvelopeSchema = "imagewatch.v1"

// Envelope is the body the http output POSTs.
type Envelope struct {
	Schema   string                     `json:"schema"`           // EnvelopeSchema
	Parent   string                     `json:"parent,omitempty"` // index digest of a platform manifest
	Metadata json.RawMessage            `json:"metadata"`         // metadata.json
	SBOMs    map[string]json.RawMessage `json:"sboms"`            // format -> SBOM document (JSON, embedded as is)
}

// HTTP POSTs an Envelope per artifact with "Idempotency-Key: <digest>", so a
// receiver can drop the duplicates at-least-once delivery produces.
type HTTP struct {
	url    string
	token  string
	remote *remote
	name   string
}

var _ Output = (*HTTP)(nil)

// NewHTTP returns an http output POSTing to rawURL, with "Authorization: Bearer
// <token>" when token is set.
func NewHTTP(rawURL, token string, opts ...Option) (*HTTP, error) {
	u, err := parseEndpoint("http", rawURL)
	if err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	name := "http:" + redactURL(u.String())
	return &HTTP{
		url:    u.String(),
		token:  token,
		name:   name,
		remote: newRemote(name, o, o.logger.Named("http"), token),
	}, nil
}

// Name is "http:<url without query>".
func (h *HTTP) Name() string { return h.name }

// Deliver POSTs the envelope of a.
func (h *HTTP) Deliver(ctx context.Context, a Artifact) error {
	hd, err := a.Header()
	if err != nil {
		return err
	}
	if err := validateSBOMs(a.SBOMs); err != nil {
		return err
	}
	env := Envelope{Schema: EnvelopeSchema, Parent: a.Parent, Metadata: a.Metadata, SBOMs: make(map[string]json.RawMessage, len(a.SBOMs))}
	for f, doc := range a.SBOMs {
		env.SBOMs[f] = doc
	}
	body, err := json.Marshal(env)
	if err != nil {
		return permanent(fmt.Errorf("http output: encode envelope of %s: %w", hd.Digest, err))
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("Idempotency-Key", hd.Digest)
	if h.token != "" {
		header.Set("Authorization", "Bearer "+h.token)
	}
	if err := h.remote.do(ctx, http.MethodPost, h.url, body, header, nil); err != nil {
		if e := (*Error)(nil); errors.As(err, &e) && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden) {
			e.Hint = "check the output's token (token, token_env or token_file)"
		}
		return err
	}
	h.remote.log.Debug("delivered", "digest", hd.Digest, "bytes", len(body))
	return nil
}
