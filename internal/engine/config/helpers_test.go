package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func sprintf(verb string, v any) string { return fmt.Sprintf(verb, v) }

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logOf logs v as a field through hclog the way the engine will.
func logOf(format string, v any) string {
	var buf bytes.Buffer
	l := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: format == "json", Level: hclog.Trace})
	l.Info("loaded", "config", v)
	if c, ok := v.(*Config); ok {
		l.Info("integrations", "integrations", c.Integrations, "first", c.Integrations[0], "outputs", c.Outputs)
	}
	return buf.String()
}
