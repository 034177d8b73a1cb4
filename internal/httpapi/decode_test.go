package httpapi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/httpapi"
)

type target struct {
	Name  string   `json:"name"`
	Count int64    `json:"count"`
	Tags  []string `json:"tags"`
	Inner *struct {
		A int `json:"a"`
	} `json:"inner"`
	Items []struct {
		Qty int `json:"qty"`
	} `json:"items"`
	Labels   map[string]string `json:"labels"`
	Optional *int64            `json:"optional"`
	When     time.Time         `json:"when"`
	Raw      json.RawMessage   `json:"raw"`
	embedded
}

type embedded struct {
	Note string `json:"note"`
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"a valid object", `{"name":"x","count":3,"tags":["a","b"],"inner":{"a":1}}`, true},
		{"whitespace around", " \n{\"name\":\"x\"}\n ", true},
		{"an empty object", `{}`, true},
		{"empty", ``, false},
		{"only spaces", `   `, false},
		{"null", `null`, false},
		{"an array", `[]`, false},
		{"a string", `"x"`, false},
		{"unknown field", `{"nmae":"x"}`, false},
		{"unknown nested field", `{"inner":{"b":1}}`, false},
		{"duplicate key", `{"name":"a","name":"b"}`, false},
		{"duplicate nested key", `{"inner":{"a":1,"a":2}}`, false},
		{"duplicate key in an array's object", `{"tags":[],"inner":{"a":1},"x":[{"k":1,"k":2}]}`, false},
		{"same key in sibling objects is fine", `{"inner":{"a":1},"tags":["a","a"]}`, true},
		{"trailing object", `{} {}`, false},
		{"trailing garbage", `{}x`, false},
		{"wrong type", `{"count":"3"}`, false},
		{"float for int", `{"count":1.5}`, false},
		{"exponent for int", `{"count":1e3}`, false},
		{"overflow", `{"count":9223372036854775808}`, false},
		{"invalid UTF-8", "{\"name\":\"\xc3\x28\"}", false},
		{"unterminated", `{"name":"x"`, false},
		{"escaped NUL is data", `{"name":"a\u0000b"}`, true},
		{"every field given exactly", `{"name":"x","items":[{"qty":1}],"labels":{"k":"v"},"optional":0,"when":"2026-01-02T03:04:05Z","raw":{"any":null},"note":"n"}`, true},
		{"a key differing only in case", `{"name":"Alice","NAME":"Mallory"}`, false},
		{"a case variant alone", `{"Name":"Mallory"}`, false},
		{"a case variant of a nested field", `{"inner":{"A":1}}`, false},
		{"a case variant in an array's object", `{"items":[{"qty":1},{"QTY":2}]}`, false},
		{"a case variant of an embedded field", `{"Note":"x"}`, false},
		{"a Unicode case fold (Kelvin sign for k)", "{\"ta\u212Ags\":[]}", false},
		{"null for a string", `{"name":null}`, false},
		{"null for a number", `{"count":null}`, false},
		{"null for an optional (pointer) field", `{"optional":null}`, false},
		{"null for a nested object", `{"inner":null}`, false},
		{"null for an array", `{"tags":null}`, false},
		{"null in an array", `{"tags":["a",null]}`, false},
		{"null in a nested object", `{"items":[{"qty":null}]}`, false},
		{"null for a map value", `{"labels":{"k":null}}`, false},
		{"null for a time", `{"when":null}`, false},
		{"null for raw JSON", `{"raw":null}`, false},
		{"null inside raw JSON is the consumer's", `{"raw":{"a":null}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v target
			err := httpapi.DecodeStrict([]byte(tt.body), &v)
			if (err == nil) != tt.ok {
				t.Fatalf("DecodeStrict(%q) = %v, want ok=%v", tt.body, err, tt.ok)
			}
			if err != nil && apperr.Code(err) != apperr.CodeInvalidJSON {
				t.Fatalf("error code %q, want invalid_json", apperr.Code(err))
			}
		})
	}
}

func TestDecodeStrictNamesTheField(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"name":"Alice","NAME":"Mallory"}`, `unknown field "NAME": field names are case-sensitive ("name")`},
		{`{"items":[{"qty":1},{"QTY":2}]}`, `unknown field "items[1].QTY": field names are case-sensitive ("qty")`},
		{`{"optional":null}`, `field "optional" must not be null`},
		{`{"items":[{"qty":null}]}`, `field "items[0].qty" must not be null`},
	} {
		var v target
		err := httpapi.DecodeStrict([]byte(c.body), &v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeStrict(%s) = %v, want a message with %q", c.body, err, c.want)
		}
	}
}

func TestDecodeStrictLeavesTheTargetAloneOnCaseVariants(t *testing.T) {
	// The attack of issue 11: the later, case-variant key won in encoding/json.
	v := target{Name: "before"}
	if err := httpapi.DecodeStrict([]byte(`{"name":"Alice","NAME":"Mallory"}`), &v); err == nil {
		t.Fatal("a case-variant duplicate was accepted")
	}
	if v.Name == "Mallory" {
		t.Fatal("the case variant reached the target")
	}
}

func TestDecodeStrictMessagesAreSafe(t *testing.T) {
	var v target
	err := httpapi.DecodeStrict([]byte(`{"count":"<script>"}`), &v)
	if err == nil || strings.Contains(err.Error(), "<script>") || strings.Contains(err.Error(), "httpapi_test") {
		t.Fatalf("message %q echoes the value or a Go type", err)
	}
}

func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"name":"x","count":1}`, `{"a":{"a":{"a":[1,{"b":2}]}}}`, `{"name":"a","name":"b"}`, `[]`, `{`, "{\"\xff\":1}",
		`{"name":"Alice","NAME":"Mallory"}`, `{"Name":"x"}`, `{"count":null}`, `{"optional":null}`, `{"items":[{"qty":null}]}`,
		`{"labels":{"k":null}}`, `{"raw":{"a":null}}`, "{\"ta\u212Ags\":[]}", `{"when":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v target
		if err := httpapi.DecodeStrict(body, &v); err != nil {
			if apperr.Code(err) != apperr.CodeInvalidJSON {
				t.Fatalf("error %v is not invalid_json", err)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted invalid input %q", body)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted a non-object %q", body)
		}
		// What is accepted names only exact fields and holds no null outside raw.
		fields := map[string]bool{"name": true, "count": true, "tags": true, "inner": true, "items": true, "labels": true, "optional": true, "when": true, "raw": true, "note": true}
		for k, val := range m {
			if !fields[k] {
				t.Fatalf("accepted key %q of %q, which is no field's exact name", k, body)
			}
			if k != "raw" && bytes.Contains(val, []byte("null")) && !bytes.Contains(val, []byte(`"`)) {
				t.Fatalf("accepted a null in %q of %q", k, body)
			}
		}
	})
}
