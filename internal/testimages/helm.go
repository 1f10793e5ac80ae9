package testimages

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Helm OCI media types (helm.sh/helm/v3/pkg/registry).
const (
	HelmConfigMediaType       = "application/vnd.cncf.helm.config.v1+json"
	HelmChartLayerMediaType   = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	HelmChartName             = "webapp"
	HelmChartVersion          = "0.3.1"
	helmChartAppVersion       = "1.16.0"
	helmChartDescription      = "A Helm chart for a small web application"
	helmChartAPIVersion       = "v2"
	helmChartType             = "application"
	helmChartDeploymentTmpl   = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n"
	helmChartValues           = "replicaCount: 2\nimage:\n  repository: nginx\n  tag: \"1.27\"\n"
	helmChartDefaultMediaType = types.OCIManifestSchema1
)

// HelmChart returns a Helm chart as `helm push` stores it in an OCI registry: an OCI image manifest whose config
// has media type application/vnd.cncf.helm.config.v1+json and whose single layer is the chart .tgz.
// blobs maps each blob's digest ("sha256:...") to its content.
func HelmChart() (mediaType string, manifest []byte, blobs map[string][]byte, err error) {
	config, err := json.Marshal(map[string]string{
		"name": HelmChartName, "version": HelmChartVersion, "appVersion": helmChartAppVersion,
		"description": helmChartDescription, "apiVersion": helmChartAPIVersion, "type": helmChartType,
	})
	if err != nil {
		return "", nil, nil, err
	}
	chartYAML := "apiVersion: " + helmChartAPIVersion + "\nname: " + HelmChartName + "\ndescription: " + helmChartDescription +
		"\ntype: " + helmChartType + "\nversion: " + HelmChartVersion + "\nappVersion: \"" + helmChartAppVersion + "\"\n"
	tarball, err := tarFiles([]file{
		{Path: HelmChartName + "/Chart.yaml", Data: []byte(chartYAML)},
		{Path: HelmChartName + "/values.yaml", Data: []byte(helmChartValues)},
		{Path: HelmChartName + "/templates/deployment.yaml", Data: []byte(helmChartDeploymentTmpl)},
	}, Epoch)
	if err != nil {
		return "", nil, nil, err
	}
	var chart bytes.Buffer
	zw := gzip.NewWriter(&chart) // zero header: no name, no mtime, so the digest is stable
	if _, err := zw.Write(tarball); err != nil {
		return "", nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return "", nil, nil, err
	}

	configDigest, chartDigest := digestOf(config), digestOf(chart.Bytes())
	manifest, err = json.MarshalIndent(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(helmChartDefaultMediaType),
		"config":        map[string]any{"mediaType": HelmConfigMediaType, "digest": configDigest, "size": len(config)},
		"layers": []map[string]any{{
			"mediaType": HelmChartLayerMediaType, "digest": chartDigest, "size": chart.Len(),
		}},
		"annotations": map[string]string{
			"org.opencontainers.image.created":     Epoch.Format("2006-01-02T15:04:05Z"),
			"org.opencontainers.image.description": helmChartDescription,
			"org.opencontainers.image.title":       HelmChartName,
			"org.opencontainers.image.version":     HelmChartVersion,
		},
	}, "", "  ")
	if err != nil {
		return "", nil, nil, err
	}
	return string(helmChartDefaultMediaType), manifest, map[string][]byte{configDigest: config, chartDigest: chart.Bytes()}, nil
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}
