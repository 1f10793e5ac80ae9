package artifactorytest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Artifactory writes REST JSON with Jackson's default pretty printer:
// objects break lines with two-space indentation, arrays stay on the line
// ("[ {" ... "} ]", empty "[ ]") and keys are separated by " : ".

// field is one key of an ordered JSON object.
type field struct {
	Key string
	Val any
}

// object is a JSON object whose key order is kept.
type object []field

func (o object) add(k string, v any) object { return append(o, field{k, v}) }

// pretty renders v like Jackson's DefaultPrettyPrinter.
func pretty(v any) string {
	var b strings.Builder
	writePretty(&b, v, 0)
	return b.String()
}

func writePretty(b *strings.Builder, v any, level int) {
	switch t := v.(type) {
	case object:
		if len(t) == 0 {
			b.WriteString("{ }")
			return
		}
		b.WriteString("{\n")
		for i, f := range t {
			if i > 0 {
				b.WriteString(",\n")
			}
			b.WriteString(strings.Repeat("  ", level+1))
			b.WriteString(jsonString(f.Key))
			b.WriteString(" : ")
			writePretty(b, f.Val, level+1)
		}
		b.WriteString("\n")
		b.WriteString(strings.Repeat("  ", level))
		b.WriteString("}")
	case []any:
		if len(t) == 0 {
			b.WriteString("[ ]")
			return
		}
		b.WriteString("[ ")
		for i, e := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writePretty(b, e, level)
		}
		b.WriteString(" ]")
	case []string:
		arr := make([]any, len(t))
		for i, s := range t {
			arr[i] = s
		}
		writePretty(b, arr, level)
	case string:
		b.WriteString(jsonString(t))
	case int:
		b.WriteString(strconv.Itoa(t))
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	default:
		raw, _ := json.Marshal(t)
		b.Write(raw)
	}
}

func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	// Jackson does not escape <, > and & as encoding/json does.
	out := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(raw))
	return out
}

// envelopeContentType is what Artifactory sends with its error envelope.
const envelopeContentType = "application/json;charset=ISO-8859-1"

// writeEnvelope writes the generic REST error envelope
// {"errors":[{"status":N,"message":"..."}]}, pretty-printed.
func writeEnvelope(w http.ResponseWriter, status int, message string) {
	body := object{{"errors", []any{object{{"status", status}, {"message", message}}}}}
	w.Header().Set("Content-Type", envelopeContentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(pretty(body)))
}

// writeUnauthorized writes a REST 401 with the Basic challenge.
func writeUnauthorized(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Artifactory Realm"`)
	writeEnvelope(w, http.StatusUnauthorized, message)
}

// writePrettyJSON writes a 200 (or status) pretty JSON body.
func writePrettyJSON(w http.ResponseWriter, status int, contentType string, v any) {
	if contentType == "" {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(pretty(v)))
}

// writeText writes a plain-text body.
func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}
