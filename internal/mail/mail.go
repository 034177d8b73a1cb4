// Package mail sends the shop's messages to people: over SMTP with STARTTLS
// when a server is configured, otherwise into a directory of .eml files under
// the data directory that a developer can open.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Dir is an outbox directory: each message becomes a file readable by its
// owner only, since reset links in it are credentials.
type Dir struct {
	path string
	from string
	now  func() time.Time
}

// NewDir returns an outbox in path (created with mode 0700).
func NewDir(path, from string, now func() time.Time) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create mail outbox: %w", err)
	}
	return &Dir{path: path, from: from, now: now}, nil
}

// headerSafe refuses header injection: no line breaks in header values.
func headerSafe(s string) bool { return !strings.ContainsAny(s, "\r\n") }

// format renders m as an RFC 5322 message, refusing header injection.
func format(from string, m Message, now time.Time) ([]byte, error) {
	if !headerSafe(from) || !headerSafe(m.To) || !headerSafe(m.Subject) {
		return nil, fmt.Errorf("mail header holds a line break")
	}
	return []byte("From: " + from + "\r\nTo: " + m.To + "\r\nSubject: " + m.Subject + "\r\nDate: " + now.UTC().Format(time.RFC1123Z) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(m.Body, "\n", "\r\n")), nil
}

// Send writes m as a message file.
func (d *Dir) Send(_ context.Context, m Message) error {
	msg, err := format(d.from, m, d.now())
	if err != nil {
		return err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := d.now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(b[:]) + ".eml"
	// Written aside and renamed, so a reader of the outbox never sees half a message.
	tmp := filepath.Join(d.path, name+".tmp")
	if err := os.WriteFile(tmp, msg, 0o600); err != nil {
		return fmt.Errorf("write mail to outbox: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.path, name)); err != nil {
		return fmt.Errorf("write mail to outbox: %w", err)
	}
	return nil
}

// Purge deletes outbox files older than age and returns how many it removed.
func (d *Dir) Purge(age time.Duration) (int, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return 0, fmt.Errorf("read mail outbox: %w", err)
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") || d.now().Sub(info.ModTime()) < age {
			continue
		}
		if err := os.Remove(filepath.Join(d.path, e.Name())); err != nil {
			return n, fmt.Errorf("purge mail outbox: %w", err)
		}
		n++
	}
	return n, nil
}
