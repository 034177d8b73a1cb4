package password

import "context"

// Hold takes a hashing slot until release is called, so tests can fill the pool
// deterministically.
func (h *Hasher) Hold() (release func()) {
	release, err := h.acquire(context.Background())
	if err != nil {
		panic(err)
	}
	return release
}
