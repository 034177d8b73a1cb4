package keys

import (
	"encoding/json"
	"fmt"
	"time"
)

// PKCS11StateFile records which HSM key is the current KEK (it changes with
// each rotation), so a restart uses the right one. It holds labels and times,
// no secret.
const PKCS11StateFile = "kek-pkcs11.json"

// DefaultPKCS11Key is the label of the HSM KEK when none is configured.
const DefaultPKCS11Key = "bulwark-kek"

// PKCS11 names an AES-256 key in a PKCS#11 token (an HSM). The key never
// leaves the token: wrapping and unwrapping are AES-GCM operations inside it.
type PKCS11 struct {
	Module string // path of the PKCS#11 library (.so)
	Token  string // token label
	PIN    string // the user PIN; never logged nor put in an error
	Key    string // label of the first key (DefaultPKCS11Key if empty); rotations add -v2, -v3, ...
}

// pkcs11State is the content of PKCS11StateFile.
type pkcs11State struct {
	Key     string    `json:"key"`     // the configured label, the base of the versions
	Version int       `json:"version"` // 1 for the configured label itself
	Current string    `json:"current"` // label of the current KEK
	Created time.Time `json:"created"` // when the current KEK was made or first used
	// Next is a rotation under way: keysets may be wrapped under it or Current.
	Next    string   `json:"next,omitempty"`
	Retired []string `json:"retired,omitempty"` // earlier labels, kept in the token for old backups
}

// parsePKCS11State parses the state file of the keys labelled key.
func parsePKCS11State(b []byte, key string) (pkcs11State, error) {
	var st pkcs11State
	if err := json.Unmarshal(b, &st); err != nil || st.Current == "" || st.Version < 1 || st.Current == st.Next {
		return pkcs11State{}, fmt.Errorf("%s is damaged: it should name the current HSM key", PKCS11StateFile)
	}
	if st.Key != key {
		return pkcs11State{}, fmt.Errorf("%s records keys of label %q but kek-pkcs11-key is %q: set it back, or move the file away to start afresh", PKCS11StateFile, st.Key, key)
	}
	return st, nil
}
