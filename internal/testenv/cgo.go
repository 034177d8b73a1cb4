//go:build cgo

package testenv

// cgoEnabled: PKCS#11 modules load only in a cgo build.
const cgoEnabled = true
