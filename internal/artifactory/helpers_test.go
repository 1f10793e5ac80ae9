package artifactory_test

import (
	"errors"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

func asError(err error, target **artifactory.Error) bool { return errors.As(err, target) }
