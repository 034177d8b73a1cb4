package keys_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

func TestMACKeyset(t *testing.T) {
	dir := t.TempDir()
	server, err := keys.OpenKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	links, err := server.MAC("links")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := links.ComputeMAC([]byte("order link"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a tag verifies over its data only", func(t *testing.T) {
		if err := links.VerifyMAC(tag, []byte("order link")); err != nil {
			t.Fatal(err)
		}
		if err := links.VerifyMAC(tag, []byte("order link!")); err == nil {
			t.Fatal("a tag verified over other data")
		}
		other, _ := keys.OpenKeyring(t.TempDir(), "")
		foreign, _ := other.MAC("links")
		if err := foreign.VerifyMAC(tag, []byte("order link")); err == nil {
			t.Fatal("another keyset verified the tag")
		}
	})
	t.Run("a rotation gives a MAC key; tags under either key verify on a running server", func(t *testing.T) {
		admin, _ := keys.OpenKeyring(dir, "")
		if _, err := admin.Rotate("links"); err != nil {
			t.Fatal(err)
		}
		again, _ := keys.OpenKeyring(dir, "")
		rotated, err := again.MAC("links")
		if err != nil {
			t.Fatalf("the rotated keyset is no MAC keyset: %v", err)
		}
		fresh, err := rotated.ComputeMAC([]byte("new link"))
		if err != nil {
			t.Fatal(err)
		}
		if err := links.VerifyMAC(fresh, []byte("new link")); err != nil {
			t.Fatalf("the running server refuses a tag under the new key: %v", err)
		}
		if err := rotated.VerifyMAC(tag, []byte("order link")); err != nil {
			t.Fatalf("a tag under the old key no longer verifies: %v", err)
		}
	})
}
