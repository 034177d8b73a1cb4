package keys_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

// FuzzPKCS11State: the HSM state file, however damaged, is refused with an
// error or names a current key, never panics, and never names the next key as
// the current one.
func FuzzPKCS11State(f *testing.F) {
	f.Add([]byte(`{"key":"k","version":1,"current":"k","created":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"key":"k","version":2,"current":"k-v2","next":"k-v3","retired":["k"]}`))
	f.Add([]byte(`{"key":"other","version":1,"current":"other"}`))
	f.Add([]byte(`{"key":"k","version":0,"current":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		current, next, err := keys.ParsePKCS11State(b, "k")
		if err != nil {
			return
		}
		if current == "" || current == next {
			t.Fatalf("accepted state with current %q next %q", current, next)
		}
	})
}
