package artifactory

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var legacyKey = "AKCp8" + strings.Repeat("k", 68) // 73 chars, the jfrog-client-go rule

// fakeJWT builds a JWT-shaped token (unsigned) with the given claims.
func fakeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"ver":"2","typ":"JWT","alg":"RS256"}`))
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2lnbmF0dXJl"
}

func TestCredentialsMode(t *testing.T) {
	tests := []struct {
		c    Credentials
		want AuthMode
	}{
		{Credentials{}, AuthNone},
		{Credentials{Secret: "eyJ2ZXIiOiIy.x.y"}, AuthBearer},
		{Credentials{Secret: "cmVmdGtuOjAxOjE3MDAwMDAwMDA6ZXhhbXBsZXJlZmVyZW5jZXRva2VuMDAwMDAw"}, AuthBearer},
		{Credentials{Username: "bob", Secret: "pw"}, AuthBasic},
		{Credentials{Username: "bob", Secret: legacyKey}, AuthBasic},
		{Credentials{Secret: legacyKey}, AuthAPIKey},
		{Credentials{Secret: "AKCp8short"}, AuthBearer},
	}
	for _, tt := range tests {
		if got := tt.c.Mode(); got != tt.want {
			t.Errorf("%v.Mode() = %v, want %v", tt.c, got, tt.want)
		}
	}
}

func TestCredentialsNeverPrintSecret(t *testing.T) {
	c := Credentials{Username: "bob", Secret: "hunter2-very-secret"}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret leaked: %s", s)
		}
		if !strings.Contains(s, "bob") || !strings.Contains(s, "basic") {
			t.Errorf("String() should say who and how: %s", s)
		}
	}
	b, err := json.Marshal(c)
	if err != nil || strings.Contains(string(b), "hunter2") {
		t.Fatalf("json leaks or fails: %s %v", b, err)
	}
}

func TestTokenClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	expired := Credentials{Secret: fakeJWT(t, map[string]any{"sub": "jfrt@01h/users/ci-bot", "exp": now.Add(-time.Hour).Unix()})}
	if _, ok := expired.tokenExpired(now); !ok {
		t.Error("expired token not detected")
	}
	if p := expired.principal(); p != "ci-bot" {
		t.Errorf("principal = %q, want ci-bot", p)
	}
	valid := Credentials{Secret: fakeJWT(t, map[string]any{"exp": now.Add(time.Hour).Unix()})}
	if _, ok := valid.tokenExpired(now); ok {
		t.Error("valid token reported expired")
	}
	if _, ok := (Credentials{Secret: "not-a-jwt"}).tokenExpired(now); ok {
		t.Error("non-JWT reported expired")
	}
}
