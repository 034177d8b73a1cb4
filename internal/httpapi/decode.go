package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// decodeBody reads r's body (at most limit bytes) into v with DecodeStrict, after
// checking that it is declared as JSON.
func decodeBody(r *http.Request, limit int64, v any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return apperr.New(apperr.CodeUnsupportedMediaType, "send the body as application/json in UTF-8")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return apperr.New(apperr.CodePayloadTooLarge, "the body is larger than %d bytes", limit)
	}
	if err != nil {
		return apperr.New(apperr.CodeInvalidJSON, "the body could not be read")
	}
	return DecodeStrict(body, v)
}

// decodeOptionalBody is decodeBody for a request whose body may be left out
// altogether (no Content-Length or 0, no Transfer-Encoding): v is then left as it is.
func decodeOptionalBody(r *http.Request, limit int64, v any) error {
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return nil
	}
	return decodeBody(r, limit, v)
}

// DecodeStrict decodes one JSON object from body into v and refuses what a
// lenient decoder would let through: invalid UTF-8 (which encoding/json would
// silently replace), duplicate keys (which parsers disagree on, a classic
// smuggling vector), unknown fields, keys that match a field only without
// regard to case (encoding/json would let "NAME" overwrite "name"), null for
// any field (encoding/json leaves the field at its zero value, so null would
// read as 0, "" or "absent"; a client leaves a field out instead), wrong types
// and trailing data. Every refusal is an invalid_json *apperr.Error whose
// message is safe to show.
func DecodeStrict(body []byte, v any) error {
	invalid := func(format string, args ...any) error {
		return apperr.New(apperr.CodeInvalidJSON, format, args...)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("the body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return invalid("the body is not valid UTF-8")
	}
	if err := checkObjectKeys(body); err != nil {
		return err
	}
	if t := reflect.TypeOf(v); t != nil {
		if err := checkShape(body, t, ""); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return invalid("malformed JSON at byte %d", syntax.Offset)
		case errors.As(err, &typ):
			if typ.Field == "" {
				return invalid("the body must be a JSON object")
			}
			return invalid("field %q must be a JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// encoding/json has no typed error for this; the field name comes from the
			// client's own (valid UTF-8) input and is quoted by the library.
			return invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return invalid("malformed JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("unexpected data after the JSON object")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	default:
		return "number (a whole number)"
	}
}

// checkObjectKeys walks the tokens of body and refuses a top level that is not
// an object and any object with a repeated key.
func checkObjectKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil {
		return apperr.New(apperr.CodeInvalidJSON, "malformed JSON")
	}
	if d, ok := first.(json.Delim); !ok || d != '{' {
		return apperr.New(apperr.CodeInvalidJSON, "the body must be a JSON object")
	}
	// Each open object keeps its keys; arrays hold nil so the stack stays aligned.
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	stack := []*frame{{keys: map[string]bool{}, expectKey: true}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return apperr.New(apperr.CodeInvalidJSON, "malformed JSON")
		}
		top := stack[len(stack)-1]
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].keys != nil {
				stack[len(stack)-1].expectKey = true
			}
			continue
		}
		if top.keys != nil && top.expectKey {
			key, _ := tok.(string)
			if top.keys[key] {
				return apperr.New(apperr.CodeInvalidJSON, "duplicate key %q", key)
			}
			top.keys[key] = true
			top.expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		default:
			if top.keys != nil {
				top.expectKey = true
			}
		}
	}
	return nil
}

// checkShape walks raw (already known to be valid JSON without duplicate keys)
// alongside the Go type t it is about to be decoded into, and refuses what
// encoding/json would accept silently: an object key that is not exactly a
// field's json name (encoding/json matches names without regard to case, so
// {"name":"Alice","NAME":"Mallory"} would store "Mallory") and a null anywhere
// (encoding/json skips it, leaving the zero value, so {"quantity":null} would
// read as quantity 0). Values whose shape does not fit t are left to the
// decoder, which names the field and the type it wants. Types with their own
// UnmarshalJSON (time.Time, json.RawMessage) are checked only for null.
// Recursion follows t, whose depth is fixed by the request types, not by the
// input.
func checkShape(raw []byte, t reflect.Type, path string) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if path == "" {
			return apperr.New(apperr.CodeInvalidJSON, "the body must be a JSON object")
		}
		return apperr.New(apperr.CodeInvalidJSON, "field %q must not be null; leave it out or give a value", path)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil // not an object: the decoder reports the type
		}
		fields := jsonFields(t)
		// Sorted, so that a body with several faults always names the same one.
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			ft, ok := fields[key]
			if !ok {
				return unknownField(join(path, key), key, fields)
			}
			if err := checkShape(obj[key], ft, join(path, key)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for i, item := range items {
			if err := checkShape(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			if err := checkShape(obj[key], t.Elem(), join(path, key)); err != nil {
				return err
			}
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownField is the refusal of key, naming the field it was probably meant
// as when it differs from one only in case.
func unknownField(path, key string, fields map[string]reflect.Type) error {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return apperr.New(apperr.CodeInvalidJSON, "unknown field %q: field names are case-sensitive (%q)", path, name)
		}
	}
	return apperr.New(apperr.CodeInvalidJSON, "unknown field %q", path)
}

// jsonFields maps the json names encoding/json decodes into struct t (its
// exported fields, untagged embedded structs flattened) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, typ := range jsonFields(ft) {
					if _, taken := out[n]; !taken {
						out[n] = typ
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
