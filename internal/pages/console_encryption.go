package pages

import "net/http"

// encryptionPage is GET /api/v1/admin/keys as the console shows it.
type encryptionPage struct {
	KEK struct {
		Source          string `json:"source"`
		CreatedAt       string `json:"created_at"`
		Versions        int    `json:"versions"`
		RotationPending bool   `json:"rotation_pending"`
	} `json:"kek"`
	Keysets []struct {
		Name      string `json:"name"`
		Keys      int    `json:"keys"`
		PrimaryID uint32 `json:"primary_id"`
		Wrapped   bool   `json:"wrapped"`
		WrittenAt string `json:"written_at"`
		KeyList   []struct {
			ID        uint32 `json:"id"`
			Role      string `json:"role"`
			CreatedAt string `json:"created_at"`
		} `json:"key_list"`
		Reencryption string `json:"reencryption"`
	} `json:"keysets"`
}

// consoleEncryption shows the key hierarchy: where the key-encryption key comes
// from and since when, each data keyset's keys with their roles and ages,
// and the re-encryption after the last rotation. Rotating stays a command
// (`bulwark keys rotate`), run where the keys live.
func (p *page) consoleEncryption() error {
	var data encryptionPage
	if err := p.call(http.MethodGet, "/api/v1/admin/keys", nil, &data); err != nil {
		return err
	}
	return p.show("console-encryption.html", "Encryption keys", data)
}
