package keys_test

import (
	"os"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestMain removes the SoftHSM token directory the HSM tests made.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveSoftHSM()
	os.Exit(code)
}
