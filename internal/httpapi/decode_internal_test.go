package httpapi

import (
	"bytes"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// FuzzDecodeCheckout feeds arbitrary bodies to the checkout request's decoder:
// it must never panic, and what it accepts must be a JSON object whose fields
// are all known.
func FuzzDecodeCheckout(f *testing.F) {
	f.Add([]byte(`{"cart_id":"cart_x","payment_method":"pm_x","cvc":"123","shipping_address":{"name":"A","line1":"B","city":"C","postal_code":"1","country":"DE"}}`))
	f.Add([]byte(`{"cart_id":"cart_x","total":{"amount":1,"currency":"EUR"}}`))
	f.Add([]byte(`{"shipping_address":{"name":"A","name":"B"}}`))
	f.Add([]byte(`{"cvc":123}`))
	f.Add([]byte(`{"cart_id":"cart_x","CART_ID":"cart_y"}`))
	f.Add([]byte(`{"shipping_address":{"name":"A","Name":"B"}}`))
	f.Add([]byte(`{"shipping_address":null}`))
	f.Add([]byte(`{"cvc":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req checkoutRequest
		err := DecodeStrict(body, &req)
		if err != nil && apperr.Code(err) != apperr.CodeInvalidJSON {
			t.Fatalf("error %v is not invalid_json", err)
		}
		if err == nil && (bytes.Contains(body, []byte("null")) && !bytes.Contains(body, []byte(`"`)) ||
			bytes.Contains(body, []byte(`"CART_ID"`)) || bytes.Contains(body, []byte(`"Cvc"`))) {
			t.Fatalf("accepted %q: a null or a case-variant key", body)
		}
	})
}
