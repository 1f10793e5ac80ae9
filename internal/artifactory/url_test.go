package artifactory

import (
	"strings"
	"testing"
)

func TestParseURLNormalises(t *testing.T) {
	tests := []struct {
		in, rest, platform, registry string
		insecure                     bool
	}{
		{"https://acme.jfrog.io", "https://acme.jfrog.io/artifactory", "https://acme.jfrog.io", "acme.jfrog.io", false},
		{"https://acme.jfrog.io/", "https://acme.jfrog.io/artifactory", "https://acme.jfrog.io", "acme.jfrog.io", false},
		{"https://acme.jfrog.io/artifactory", "https://acme.jfrog.io/artifactory", "https://acme.jfrog.io", "acme.jfrog.io", false},
		{"https://ACME.jfrog.io:443/artifactory/", "https://acme.jfrog.io/artifactory", "https://acme.jfrog.io", "acme.jfrog.io", false},
		{"http://artifactory.internal:8082", "http://artifactory.internal:8082/artifactory", "http://artifactory.internal:8082", "artifactory.internal:8082", true},
		{"http://localhost:8082/artifactory/", "http://localhost:8082/artifactory", "http://localhost:8082", "localhost:8082", true},
		{"  http://localhost:80/ ", "http://localhost/artifactory", "http://localhost", "localhost", true},
		{"https://acme.jfrog.io/acme", "https://acme.jfrog.io/acme", "https://acme.jfrog.io/acme", "acme.jfrog.io", false},
		{"https://proxy.corp/jfrog/artifactory", "https://proxy.corp/jfrog/artifactory", "https://proxy.corp/jfrog", "proxy.corp", false},
		{"http://[::1]:8082", "http://[::1]:8082/artifactory", "http://[::1]:8082", "[::1]:8082", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ep, err := ParseURL(tt.in)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.in, err)
			}
			if ep.REST.String() != tt.rest || ep.Platform.String() != tt.platform || ep.RegistryHost != tt.registry || ep.Insecure != tt.insecure {
				t.Errorf("ParseURL(%q) = REST %s, Platform %s, RegistryHost %s, Insecure %v; want %s %s %s %v",
					tt.in, ep.REST, ep.Platform, ep.RegistryHost, ep.Insecure, tt.rest, tt.platform, tt.registry, tt.insecure)
			}
		})
	}
}

func TestParseURLErrorsSayWhatToFix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "url is empty"},
		{"acme.jfrog.io", "write it as https://acme.jfrog.io"},
		{"ftp://acme.jfrog.io", "url must use http or https"},
		{"https://admin:s3cr3t@acme.jfrog.io", "must not contain credentials"},
		{"https://acme.jfrog.io/artifactory?token=s3cr3t", "must not contain credentials, query or fragment"},
		{"https://acme.jfrog.io/#frag", "query or fragment"},
		{"https:///artifactory", "has no host"},
		{"https://acme.jfrog.io/artifactory/api/repositories", "not an API path: use https://acme.jfrog.io/artifactory"},
		{"https://acme.jfrog.io/ui/repos/tree/General", "web UI: use the platform URL https://acme.jfrog.io"},
		{"https://acme.jfrog.io/v2/docker-local", "Docker registry API"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseURL(tt.in)
			if err == nil {
				t.Fatalf("ParseURL(%q) = nil error, want %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseURL(%q) error %q does not contain %q", tt.in, err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
}

func TestImageReference(t *testing.T) {
	tests := []struct{ host, key, image, tag, want string }{
		{"acme.jfrog.io", "docker-local", "team/app", "1.0", "acme.jfrog.io/docker-local/team/app:1.0"},
		{"localhost:8082", "docker", "app", "sha256:abc", "localhost:8082/docker/app@sha256:abc"},
		{"acme.jfrog.io", "docker", "app", "", "acme.jfrog.io/docker/app"},
	}
	for _, tt := range tests {
		if got := ImageReference(tt.host, tt.key, tt.image, tt.tag); got != tt.want {
			t.Errorf("ImageReference(%q,%q,%q,%q) = %q, want %q", tt.host, tt.key, tt.image, tt.tag, got, tt.want)
		}
	}
}

func TestSplitRepositoryKeys(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"docker-local, docker-prod; docker-dev", []string{"docker-local", "docker-prod", "docker-dev"}},
		{" a ,, ;b;a; ", []string{"a", "b"}},
		{"", []string{}},
		{" ; , ", []string{}},
	}
	for _, tt := range tests {
		got := SplitRepositoryKeys(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || got == nil {
			t.Errorf("SplitRepositoryKeys(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestValidRepositoryKey(t *testing.T) {
	for _, ok := range []string{"docker-local", "docker_prod", "docker.dev", "_x", "a1", strings.Repeat("a", 64)} {
		if err := ValidRepositoryKey(ok); err != nil {
			t.Errorf("ValidRepositoryKey(%q) = %v, want nil", ok, err)
		}
	}
	bad := []struct{ key, want string }{
		{"", "empty"},
		{"docker local", "contains a space"},
		{"docker-local/app", "contains '/'"},
		{"1docker", "must start with a letter"},
		{"-docker", "must start with a letter"},
		{strings.Repeat("a", 65), "at most 64"},
		{"a:b", "does not allow"},
		{"a*b", "does not allow"},
		{"a+b", "use letters, digits"},
		{" docker", "leading or trailing spaces"},
		{"..", "not a valid key"},
	}
	for _, tt := range bad {
		err := ValidRepositoryKey(tt.key)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidRepositoryKey(%q) = %v, want error containing %q", tt.key, err, tt.want)
		}
	}
}
