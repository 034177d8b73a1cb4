package vaultapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// errMalformed is the one answer to a body that is not exactly the expected
// JSON object. It never quotes the body, which may hold a card number.
var errMalformed = apperr.New(apperr.CodeInvalidJSON, "the body is not the expected JSON object")

// Decode reads one flat JSON object from body into v and refuses anything a
// lenient decoder would let through: invalid UTF-8,
// anything but an object at the top, duplicate or unknown keys, wrong types and
// trailing data. The caller bounds the body's size. Every refusal is the same invalid_json *apperr.Error, whose
// message repeats nothing of the input.
func Decode(body []byte, v any) error {
	if !utf8.Valid(body) {
		return errMalformed
	}
	if err := uniqueKeys(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errMalformed
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errMalformed
	}
	return nil
}

// uniqueKeys checks that body is one JSON object whose keys appear once each
// (encoding/json would silently keep the last of duplicates).
func uniqueKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errMalformed
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok || seen[key] {
			return errMalformed
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return errMalformed
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errMalformed
	}
	return nil
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
