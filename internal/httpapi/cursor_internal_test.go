package httpapi

import (
	"encoding/base64"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/id"
)

func TestCursors(t *testing.T) {
	last := id.New(id.Product)
	if got, err := decodeCursor(encodeCursor(last), id.Product); err != nil || got != last {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	// A cursor of the old, base64url form still reads.
	if got, err := decodeCursor(base64.RawURLEncoding.EncodeToString([]byte(last)), id.Product); err != nil || got != last {
		t.Fatalf("old cursor = %q, %v", got, err)
	}
	for _, bad := range []string{id.New(id.Order), "not-a-cursor", base64.RawURLEncoding.EncodeToString([]byte("prod_x"))} {
		if _, err := decodeCursor(bad, id.Product); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}
