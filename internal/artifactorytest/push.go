package artifactorytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The push helpers are the "docker push" of tests: they go through the
// double's own Docker V2 API (repository-path method, token flow) with the
// admin's credentials, so storage items, properties and timestamps are
// recorded exactly as for any other push.

func (s *Server) pushOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: AdminName, Password: AdminPassword}),
	}
}

func (s *Server) reference(repositoryKey, image, tag string) (name.Reference, error) {
	ref, err := name.ParseReference(fmt.Sprintf("%s/%s/%s:%s", s.RegistryHost(), repositoryKey, image, tag), name.Insecure)
	if err != nil {
		return nil, fmt.Errorf("artifactorytest: reference for %s/%s:%s: %w", repositoryKey, image, tag, err)
	}
	return ref, nil
}

// PushImage pushes img as <repositoryKey>/<image>:<tag> and returns its digest.
func (s *Server) PushImage(ctx context.Context, repositoryKey, image, tag string, img v1.Image) (string, error) {
	ref, err := s.reference(repositoryKey, image, tag)
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("artifactorytest: digest of image: %w", err)
	}
	if err := remote.Write(ref, img, s.pushOptions(ctx)...); err != nil {
		return "", fmt.Errorf("artifactorytest: push %s: %w", ref, err)
	}
	return d.String(), nil
}

// PushIndex pushes a multi-platform index (its platform manifests land under
// <image>/sha256__<digest>/) and returns the index digest.
func (s *Server) PushIndex(ctx context.Context, repositoryKey, image, tag string, idx v1.ImageIndex) (string, error) {
	ref, err := s.reference(repositoryKey, image, tag)
	if err != nil {
		return "", err
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("artifactorytest: digest of index: %w", err)
	}
	if err := remote.WriteIndex(ref, idx, s.pushOptions(ctx)...); err != nil {
		return "", fmt.Errorf("artifactorytest: push %s: %w", ref, err)
	}
	return d.String(), nil
}

type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// PushManifest pushes raw manifest bytes with the given media type as is (no
// blobs; push them first with PushBlob). Malformed manifests are accepted and
// served back unchanged, so tests can exercise a client's error handling.
func (s *Server) PushManifest(ctx context.Context, repositoryKey, image, tag, mediaType string, raw []byte) (string, error) {
	ref, err := s.reference(repositoryKey, image, tag)
	if err != nil {
		return "", err
	}
	if json.Valid(raw) {
		err = remote.Put(ref, rawManifest{raw: raw, mediaType: types.MediaType(mediaType)}, s.pushOptions(ctx)...)
	} else {
		// ggcr parses what it puts; bytes that are not JSON go in a plain PUT
		// over ggcr's authenticating transport (same token flow).
		err = s.putRaw(ctx, ref, mediaType, raw)
	}
	if err != nil {
		return "", fmt.Errorf("artifactorytest: push %s: %w", ref, err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// PushBlob uploads a blob (config or layer of an artifact pushed with
// PushManifest) to <repositoryKey>/<image> and returns its digest.
func (s *Server) PushBlob(ctx context.Context, repositoryKey, image string, data []byte, mediaType string) (string, error) {
	repo, err := name.NewRepository(fmt.Sprintf("%s/%s/%s", s.RegistryHost(), repositoryKey, image), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("artifactorytest: repository %s/%s: %w", repositoryKey, image, err)
	}
	layer := static.NewLayer(data, types.MediaType(mediaType))
	if err := remote.WriteLayer(repo, layer, s.pushOptions(ctx)...); err != nil {
		return "", fmt.Errorf("artifactorytest: push blob to %s: %w", repo, err)
	}
	d, err := layer.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// CacheImage seeds a remote repository's cache ("<remoteKey>-cache") with img,
// as if it had been pulled through the remote. Pushing to "<key>-cache" is a
// door only the double has; pushes to the remote key itself are refused.
func (s *Server) CacheImage(ctx context.Context, remoteKey, image, tag string, img v1.Image) (string, error) {
	return s.PushImage(ctx, remoteKey+"-cache", image, tag, img)
}

func (s *Server) putRaw(ctx context.Context, ref name.Reference, mediaType string, raw []byte) error {
	auth := &authn.Basic{Username: AdminName, Password: AdminPassword}
	scopes := []string{ref.Scope(transport.PushScope)}
	rt, err := transport.NewWithContext(ctx, ref.Context().Registry, auth, http.DefaultTransport, scopes)
	if err != nil {
		return err
	}
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", ref.Context().Scheme(), ref.Context().RegistryStr(), ref.Context().RepositoryStr(), ref.Identifier())
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return transport.CheckError(resp, http.StatusCreated)
}
