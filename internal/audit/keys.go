package audit

// Key events: every key Bulwark makes or rotates is recorded, by name and
// source, never with key material.
const (
	ActionKEKCreate    = "key.kek_create"
	ActionKeysetCreate = "key.keyset_create"
	ActionKEKRotate    = "key.kek_rotate"
)
