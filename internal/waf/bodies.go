package waf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// BodyModel is the positive model of the API's JSON request bodies: the
// schema of each operation's body, from the OpenAPI document. A body that
// validates against its route's schema is inspected by the rule set only in
// its free text; every other body is inspected whole, as without a model.
//
// What the rule set no longer sees can carry no attack, whatever route or
// handler reads it, because it is judged by its value alone:
//   - numbers, booleans and null;
//   - strings the schema confines to an enum or a const, or to a pattern
//     anchored at both ends over letters, digits and '_' only (an id's shape);
//   - the names of an object's properties when the schema allows no others
//     (additionalProperties false): they are the document's own words.
//
// Every other string, and the whole of any object whose keys the client
// chooses, is handed to the rule set with its path (json.a.b) intact, so
// exclusions by field apply as before.
type BodyModel struct {
	routes []bodyRoute
}

type bodyRoute struct {
	method   string
	segments []string // "" is a {parameter}, matching one non-empty segment
	literals int
	schema   *jsonschema.Schema
}

// NewBodyModel compiles the request body schemas of an OpenAPI 3.1 document:
// each operation whose body is application/json with a $ref schema. It
// returns an error when the document or a schema does not compile.
func NewBodyModel(openapi []byte) (*BodyModel, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapi))
	if err != nil {
		return nil, fmt.Errorf("waf: read the OpenAPI document: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const loc = "bulwark:openapi.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("waf: load the OpenAPI document: %w", err)
	}
	var paths map[string]map[string]struct {
		RequestBody *struct {
			Content map[string]struct {
				Schema struct {
					Ref string `json:"$ref"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	}
	var top struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &top); err != nil {
		return nil, fmt.Errorf("waf: read the OpenAPI document: %w", err)
	}
	if err := json.Unmarshal(top.Paths, &paths); err != nil {
		return nil, fmt.Errorf("waf: read the OpenAPI document's paths: %w", err)
	}
	m := &BodyModel{}
	for path, ops := range paths {
		for method, op := range ops {
			if op.RequestBody == nil {
				continue
			}
			ref := op.RequestBody.Content["application/json"].Schema.Ref
			if !strings.HasPrefix(ref, "#/components/schemas/") {
				continue // no JSON body, or an inline schema: inspected whole
			}
			sch, err := c.Compile(loc + ref)
			if err != nil {
				return nil, fmt.Errorf("waf: compile the body schema of %s %s: %w", strings.ToUpper(method), path, err)
			}
			r := bodyRoute{method: strings.ToUpper(method), schema: sch}
			for _, seg := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
				if strings.HasPrefix(seg, "{") {
					seg = ""
				} else {
					r.literals++
				}
				r.segments = append(r.segments, seg)
			}
			m.routes = append(m.routes, r)
		}
	}
	return m, nil
}

// schemaFor returns the body schema of the route path matches, preferring
// the one with the most literal segments (as the router does), or nil when
// none or two equally specific ones match.
func (m *BodyModel) schemaFor(method, path string) *jsonschema.Schema {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best *bodyRoute
	tie := false
	for i := range m.routes {
		r := &m.routes[i]
		if r.method != method || len(r.segments) != len(segs) {
			continue
		}
		match := true
		for j, s := range r.segments {
			if (s == "" && segs[j] == "") || (s != "" && s != segs[j]) {
				match = false
				break
			}
		}
		switch {
		case !match:
		case best == nil || r.literals > best.literals:
			best, tie = r, false
		case r.literals == best.literals:
			tie = true
		}
	}
	if best == nil || tie {
		return nil
	}
	return best.schema
}

// reduce returns what of r's body (already read) the rule set must inspect:
// the free text of a JSON body that validates against its route's schema, or
// ok false when the body is to be inspected whole (no model for the route,
// not a JSON body, or a body that does not validate, which the rule set and
// then the handler answer as they always have).
func (m *BodyModel) reduce(r *http.Request, body []byte) (free []byte, ok bool) {
	if m == nil || len(r.Header.Values("Content-Type")) != 1 {
		return nil, false
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return nil, false
	}
	sch := m.schemaFor(r.Method, r.URL.Path)
	if sch == nil {
		return nil, false
	}
	v, err := parseStrict(body)
	if err != nil {
		return nil, false
	}
	if err := sch.Validate(v); err != nil {
		return nil, false
	}
	kept, keep := freeText(v, sch)
	if !keep {
		kept = map[string]any{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the rule set reads '<' as '<', not \u003c
	if err := enc.Encode(kept); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), true
}

// freeText returns the part of v, valid against sch, that can carry text the
// rule set must see, and whether there is any.
func freeText(v any, sch *jsonschema.Schema) (any, bool) {
	switch v := v.(type) {
	case string:
		return v, !confined(sch)
	case map[string]any:
		props, closed := closedProperties(sch)
		if !closed {
			return v, true // the client chooses the keys: inspected whole
		}
		out := map[string]any{}
		for k, x := range v {
			if kept, keep := freeText(x, props[k]); keep {
				out[k] = kept
			}
		}
		return out, len(out) > 0
	case []any:
		items := itemSchema(sch)
		if items == nil {
			return v, true
		}
		var out []any
		for _, x := range v {
			if kept, keep := freeText(x, items); keep {
				out = append(out, kept)
			}
		}
		return out, len(out) > 0
	default: // json.Number, bool, nil
		return nil, false
	}
}

// chain is sch and the schemas it refers to: a valid value satisfies each.
func chain(sch *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	for s := sch; s != nil && len(out) < 16; s = s.Ref {
		out = append(out, s)
	}
	return out
}

// confined reports whether sch holds a string to values that cannot carry an
// attack: an enum or const, or a pattern of an id's shape (see idShaped).
func confined(sch *jsonschema.Schema) bool {
	for _, s := range chain(sch) {
		if s.Enum != nil || s.Const != nil || (s.Pattern != nil && idShaped(s.Pattern.String())) {
			return true
		}
	}
	return false
}

// closedProperties returns the property schemas of an object schema that
// allows no other properties (no patternProperties either).
func closedProperties(sch *jsonschema.Schema) (map[string]*jsonschema.Schema, bool) {
	for _, s := range chain(sch) {
		if b, ok := s.AdditionalProperties.(bool); ok && !b && len(s.PatternProperties) == 0 {
			return s.Properties, true
		}
	}
	return nil, false
}

// itemSchema returns the schema every item of an array schema satisfies.
func itemSchema(sch *jsonschema.Schema) *jsonschema.Schema {
	for _, s := range chain(sch) {
		if s.Items2020 != nil && len(s.PrefixItems) == 0 {
			return s.Items2020
		}
	}
	return nil
}

// idShaped reports whether pattern (Go syntax, as the validator compiles it)
// is anchored at both ends and admits only ASCII letters, digits and '_':
// a value matching it can spell a word but no syntax of any language the
// rule set looks for (no quote, space, dot, dash, slash or bracket).
func idShaped(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[len(re.Sub)-1].Op != syntax.OpEndText {
		return false
	}
	return idAlphabet(re)
}

func idAlphabet(re *syntax.Regexp) bool {
	allowed := func(r rune) bool {
		return r == '_' || ('0' <= r && r <= '9') || ('A' <= r && r <= 'Z') || ('a' <= r && r <= 'z')
	}
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false // case folding admits runes such as 'ſ' for 's'
		}
		return !slices.ContainsFunc(re.Rune, func(r rune) bool { return !allowed(r) })
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if !allowed(r) {
					return false
				}
			}
		}
		return true
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpEmptyMatch:
		return true
	case syntax.OpConcat, syntax.OpAlternate, syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		for _, s := range re.Sub {
			if !idAlphabet(s) {
				return false
			}
		}
		return true
	}
	return false
}

// errDuplicateKey refuses an object with a key twice.
var errDuplicateKey = errors.New("duplicate key")

// parseStrict parses one JSON value as the handlers' strict decoding reads
// it (encoding/json, numbers exact), refusing what that decoding refuses
// and parsers disagree on: invalid UTF-8, duplicate keys, trailing data.
func parseStrict(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	p := parser{dec: dec}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

// parser reads a JSON value token by token, within the limits the rule
// engine keeps (JSONDepthLimit, ArgumentsLimit values): a body beyond them
// is inspected whole, and the engine refuses it as it always has.
type parser struct {
	dec    *json.Decoder
	values int
}

func (p *parser) value(depth int) (any, error) {
	if depth > JSONDepthLimit {
		return nil, errors.New("nested too deep")
	}
	t, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		obj := map[string]any{}
		for p.dec.More() {
			kt, err := p.dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			if _, dup := obj[k]; dup {
				return nil, errDuplicateKey
			}
			if obj[k], err = p.value(depth + 1); err != nil {
				return nil, err
			}
		}
		_, err := p.dec.Token()
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for p.dec.More() {
			x, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, x)
		}
		_, err := p.dec.Token()
		return arr, err
	}
	if p.values++; p.values > ArgumentsLimit {
		return nil, errors.New("too many values")
	}
	return t, nil
}
