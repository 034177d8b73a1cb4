//go:build !cgo

package keys

import "errors"

// openPKCS11 needs cgo to load a PKCS#11 library; without it (CGO_ENABLED=0,
// the pure-Go build) the HSM KEK is refused with a clear error.
func openPKCS11(string, PKCS11) (kekProvider, error) {
	return nil, errors.New("this bulwark was built without cgo, so it cannot load a PKCS#11 module: build it with CGO_ENABLED=1 and a C compiler")
}
