package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
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

func TestDecodeStrictMessagesAreSafe(t *testing.T) {
	var v target
	err := httpapi.DecodeStrict([]byte(`{"count":"<script>"}`), &v)
	if err == nil || strings.Contains(err.Error(), "<script>") || strings.Contains(err.Error(), "httpapi_test") {
		t.Fatalf("message %q echoes the value or a Go type", err)
	}
}

func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"name":"x","count":1}`, `{"a":{"a":{"a":[1,{"b":2}]}}}`, `{"name":"a","name":"b"}`, `[]`, `{`, "{\"\xff\":1}"} {
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
	})
}
