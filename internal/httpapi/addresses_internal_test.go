package httpapi

import (
	"bytes"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// FuzzDecodeAddress feeds arbitrary bodies to the address book's decoder and
// then to the address's validation, as POST /api/v1/me/addresses does:
// neither may panic; the decoder refuses with invalid_json only, never takes
// a case-variant or unknown key (an "id" or "owner_id" smuggled in), and the
// validation refuses with validation_failed only.
func FuzzDecodeAddress(f *testing.F) {
	f.Add([]byte(`{"address":{"name":"A","line1":"B","city":"C","postal_code":"1","country":"DE"}}`))
	f.Add([]byte(`{"address":{"name":"A","line1":"B","city":"C","postal_code":"1","country":"US","region":"CA","phone":"+1 555 0100"}}`))
	f.Add([]byte(`{"address":{"name":"A"},"owner_id":"usr_x"}`))
	f.Add([]byte(`{"address":{"name":"A","Name":"B"}}`))
	f.Add([]byte(`{"address":null}`))
	f.Add([]byte(`{"address":"1 Main St"}`))
	f.Add([]byte(`{"address":{"name":"\u0000"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req addressRequest
		err := DecodeStrict(body, &req)
		if err != nil {
			if apperr.Code(err) != apperr.CodeInvalidJSON {
				t.Fatalf("error %v is not invalid_json", err)
			}
			return
		}
		if bytes.Contains(body, []byte(`"owner_id"`)) || bytes.Contains(body, []byte(`"Name"`)) || bytes.Contains(body, []byte(`"ADDRESS"`)) {
			t.Fatalf("accepted %q: an unknown or case-variant key", body)
		}
		var v apperr.Validator
		req.Address.Validate(&v, "address")
		if err := v.Err(); err != nil && apperr.Code(err) != apperr.CodeValidation {
			t.Fatalf("validation error %v is not validation_failed", err)
		}
	})
}
