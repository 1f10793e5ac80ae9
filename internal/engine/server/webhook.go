package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/metrics"
)

// MaxWebhookBody bounds a webhook payload. Artifactory's Docker events are a
// few hundred bytes (a few KiB with many platforms).
const MaxWebhookBody = 1 << 20

// EventAuthHeader carries the webhook secret, verbatim or as an HMAC of the body.
const EventAuthHeader = "X-JFrog-Event-Auth"

// webhookEvent is the part of Artifactory's webhook envelope the receiver reads
// (reference §8.1).
type webhookEvent struct {
	Domain    string `json:"domain"`
	EventType string `json:"event_type"`
	JPDOrigin string `json:"jpd_origin"`
	Data      struct {
		RepoKey   string `json:"repo_key"`
		EventType string `json:"event_type"`
		Path      string `json:"path"`
		SHA256    string `json:"sha256"`
		ImageName string `json:"image_name"`
		Tag       string `json:"tag"`
		ImageType string `json:"image_type"`
	} `json:"data"`
}

// webhookResponse is the body of a 202.
type webhookResponse struct {
	Status      string `json:"status"`
	Integration string `json:"integration,omitempty"`
}

// webhook receives Artifactory's Docker "pushed" event and triggers an
// immediate poll of the integration watching its repository. The payload only
// says which integration to poll: the poll decides what is analysed, so a
// forged or replayed payload can at worst cause one extra (cheap) poll.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.observeWebhook("", metrics.WebhookBadRequest)
			s.log.Warn("webhook refused: body too large", "limit_bytes", MaxWebhookBody, "remote", r.RemoteAddr)
			writeError(w, http.StatusRequestEntityTooLarge, "", "webhook body is larger than 1 MiB")
			return
		}
		s.observeWebhook("", metrics.WebhookBadRequest)
		writeError(w, http.StatusBadRequest, "", "could not read the webhook body")
		return
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		s.observeWebhook("", metrics.WebhookBadRequest)
		s.log.Warn("webhook refused: payload is not JSON", "error", err, "remote", r.RemoteAddr)
		writeError(w, http.StatusBadRequest, "", "webhook payload is not a JSON Artifactory event: "+err.Error())
		return
	}
	event := ev.EventType
	if event == "" {
		event = ev.Data.EventType
	}
	if ev.Domain != "docker" {
		s.observeWebhook("", metrics.WebhookIgnored)
		s.log.Info("webhook ignored: not a Docker event", "domain", clip(ev.Domain), "event_type", clip(event))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	repo := ev.Data.RepoKey
	if repo == "" {
		s.observeWebhook("", metrics.WebhookBadRequest)
		writeError(w, http.StatusBadRequest, "data.repo_key", "the Docker event has no data.repo_key")
		return
	}
	integration, secret, ok := s.webhooks.Route(repo, ev.JPDOrigin)
	if !ok {
		s.observeWebhook("", metrics.WebhookUnknownRepo)
		s.log.Warn("webhook refused: no integration watches the repository",
			"repository", clip(repo), "origin", clip(ev.JPDOrigin))
		writeError(w, http.StatusNotFound, "data.repo_key", "no integration watches repository "+clip(repo))
		return
	}
	if secret == "" {
		s.observeWebhook(integration, metrics.WebhookUnauthorized)
		s.log.Warn("webhook refused: the integration has no webhook secret; set webhook_secret (or webhook_secret_env/_file) to accept webhooks",
			"integration", integration, "repository", repo)
		writeError(w, http.StatusUnauthorized, "", "webhooks are not enabled for this repository")
		return
	}
	if why := verifyEventAuth(r.Header.Get(EventAuthHeader), body, secret); why != "" {
		s.observeWebhook(integration, metrics.WebhookUnauthorized)
		// Neither the header nor the secret is logged.
		s.log.Warn("webhook refused: authentication failed", "integration", integration, "repository", repo,
			"reason", why, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "", "missing or invalid "+EventAuthHeader)
		return
	}
	if event != "pushed" {
		s.observeWebhook(integration, metrics.WebhookIgnored)
		s.log.Info("webhook ignored: only Docker pushed events trigger a poll",
			"integration", integration, "repository", repo, "event_type", clip(event))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.webhooks.Trigger(integration)
	s.observeWebhook(integration, metrics.WebhookAccepted)
	s.log.Info("webhook: push received, poll triggered", "integration", integration, "repository", repo,
		"image", clip(ev.Data.ImageName), "tag", clip(ev.Data.Tag))
	writeJSON(w, http.StatusAccepted, webhookResponse{Status: "accepted", Integration: integration})
}

func (s *Server) observeWebhook(integration, result string) {
	if s.metrics != nil {
		s.metrics.ObserveWebhook(integration, result)
	}
}

// verifyEventAuth accepts the secret verbatim, or a hex HMAC-SHA256 of the body
// keyed by the secret (Artifactory's use_secret_for_signing), optionally
// prefixed "sha256=". Both compares are constant-time. It returns why the
// header was refused ("" when accepted); the reason never contains the header.
func verifyEventAuth(header string, body []byte, secret string) string {
	header = strings.TrimSpace(header)
	if header == "" {
		return "missing " + EventAuthHeader + " header"
	}
	// Compare digests so the time taken does not depend on the secret's length.
	hh, sh := sha256.Sum256([]byte(header)), sha256.Sum256([]byte(secret))
	verbatim := subtle.ConstantTimeCompare(hh[:], sh[:]) == 1

	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	sig := header
	if len(sig) > len("sha256=") && strings.EqualFold(sig[:len("sha256=")], "sha256=") {
		sig = sig[len("sha256="):]
	}
	got, err := hex.DecodeString(sig)
	signed := err == nil && hmac.Equal(got, want)

	if verbatim || signed {
		return ""
	}
	return "neither the secret nor an HMAC-SHA256 of the body"
}

// clip bounds attacker-controlled strings before they reach a log line or a response.
func clip(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
