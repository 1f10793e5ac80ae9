package output

import (
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

// Output types accepted in the engine config's outputs[].type.
const (
	TypeDirectory       = "directory"
	TypeHTTP            = "http"
	TypeDependencyTrack = "dependency_track"
)

// FromConfig builds the output cfg describes. opts (transport, retry) apply to
// every type; logger becomes the parent of the output's Named logger.
func FromConfig(cfg config.Output, logger hclog.Logger, opts ...Option) (Output, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	opts = append([]Option{WithLogger(logger.Named("output"))}, opts...)
	switch cfg.Type {
	case TypeDirectory:
		return NewDirectory(cfg.Path, opts...)
	case TypeHTTP:
		return NewHTTP(cfg.URL, cfg.Token, opts...)
	case TypeDependencyTrack:
		return NewDependencyTrack(cfg.URL, cfg.APIKey, opts...)
	default:
		return nil, fmt.Errorf("output type %q is not supported: use directory, http or dependency_track", cfg.Type)
	}
}
