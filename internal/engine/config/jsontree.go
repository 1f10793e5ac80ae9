package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The config is parsed into a small ordered tree instead of straight into
// structs so that every complaint (unknown key, wrong type, duplicate key)
// can name the exact JSON path, and so that all of them are found in one pass.

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	case kindObject:
		return "an object"
	default:
		return "null"
	}
}

type member struct {
	key string
	val *node
}

type node struct {
	kind    kind
	b       bool
	num     json.Number
	str     string
	elems   []*node
	members []member
}

// parseJSON parses one JSON document. Errors are *Error with line and column
// (syntax) or the JSON path (duplicate keys); they never quote file content
// beyond one character, so a secret cannot leak through them.
func parseJSON(file string, data []byte) (*node, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: file, Msg: "the file is empty: it must hold one JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec, "")
	if err != nil {
		return nil, syntaxError(file, data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		line, col := lineCol(data, off)
		return nil, &Error{File: file, Msg: fmt.Sprintf("line %d, column %d: unexpected data after the end of the top-level JSON value: the file must hold exactly one JSON object", line, col)}
	}
	return n, nil
}

type duplicateKeyError struct{ path string }

func (e *duplicateKeyError) Error() string { return "duplicate key" }

func parseValue(dec *json.Decoder, path string) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: kindObject}
			seen := map[string]bool{}
			for dec.More() {
				ktok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := ktok.(string) // the decoder only yields strings as object keys
				p := fieldPath(path, key)
				if seen[key] {
					return nil, &duplicateKeyError{path: p}
				}
				seen[key] = true
				v, err := parseValue(dec, p)
				if err != nil {
					return nil, err
				}
				n.members = append(n.members, member{key: key, val: v})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return n, nil
		case '[':
			n := &node{kind: kindArray}
			for i := 0; dec.More(); i++ {
				v, err := parseValue(dec, indexPath(path, i))
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case string:
		return &node{kind: kindString, str: t}, nil
	case json.Number:
		return &node{kind: kindNumber, num: t}, nil
	case bool:
		return &node{kind: kindBool, b: t}, nil
	case nil:
		return &node{kind: kindNull}, nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

func syntaxError(file string, data []byte, dec *json.Decoder, err error) error {
	var dup *duplicateKeyError
	if errors.As(err, &dup) {
		return &Error{File: file, Path: dup.path, Msg: "duplicate key: JSON objects must not repeat a key (only one value would be used); remove one of them"}
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(data, syn.Offset)
		msg := fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, syn.Error())
		if i := int(syn.Offset); i >= 0 && i < len(data) && data[i] == '/' {
			msg += " (JSON has no comments: remove them)"
		} else if prev := bytes.TrimRight(data[:min(int(syn.Offset), len(data))], " \t\r\n"); len(prev) > 0 && prev[len(prev)-1] == ',' {
			msg += " (JSON allows no trailing comma: remove the comma before it)"
		}
		return &Error{File: file, Msg: msg}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		line, col := lineCol(data, int64(len(data)))
		return &Error{File: file, Msg: fmt.Sprintf("invalid JSON: unexpected end of file at line %d, column %d: a closing brace, bracket or quote is missing", line, col)}
	}
	line, col := lineCol(data, dec.InputOffset())
	return &Error{File: file, Msg: fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, err)}
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	prefix := data[:off]
	line = bytes.Count(prefix, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(prefix, '\n') // 1-based column of the byte at off

	return line, col
}

// fieldPath appends an object key to a JSON path: a.b, or a["odd key"].
func fieldPath(parent, key string) string {
	if !isIdent(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
