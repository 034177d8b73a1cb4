package httpapi

import (
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
	f.Fuzz(func(t *testing.T, body []byte) {
		var req checkoutRequest
		err := DecodeStrict(body, &req)
		if err != nil && apperr.Code(err) != apperr.CodeInvalidJSON {
			t.Fatalf("error %v is not invalid_json", err)
		}
	})
}
