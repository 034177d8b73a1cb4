package ordermail

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
)

// Service is the staff administration of the mail templates.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns the template administration.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// Templates returns every mail's template in use: the shop's where it
// changed one, the default otherwise.
func (s *Service) Templates(ctx context.Context) ([]Template, error) {
	if _, err := access.Require(ctx, access.MailManage); err != nil {
		return nil, err
	}
	return templates(ctx, s.store)
}

// templates is every mail's template in use. A stored template that no
// longer parses (a rule made stricter since it was saved) gives way to the
// default.
func templates(ctx context.Context, store Store) ([]Template, error) {
	return templatesCached(ctx, store, nil)
}

// parsed remembers stored templates already parsed, by name, so that the
// worker does not check the same text again for every batch.
type parsed struct {
	mu sync.Mutex
	m  map[string]Template
}

func (p *parsed) get(st Stored) (Template, bool) {
	if p == nil {
		return Template{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.m[st.Name]
	return t, ok && t.Subject == st.Subject && t.Body == st.Body
}

func (p *parsed) put(t Template) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]Template{}
	}
	p.m[t.Name] = t
}

func templatesCached(ctx context.Context, store Store, cache *parsed) ([]Template, error) {
	stored, err := store.MailTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("read mail templates: %w", err)
	}
	byName := map[string]Stored{}
	for _, t := range stored {
		byName[t.Name] = t
	}
	out := make([]Template, 0, len(Names()))
	for _, name := range Names() {
		t := Default(name)
		if st, ok := byName[name]; ok {
			if custom, ok := cache.get(st); ok {
				t, t.UpdatedAt = custom, st.UpdatedAt
			} else if custom, err := Parse(name, st.Subject, st.Body); err == nil {
				t, t.Custom, t.UpdatedAt = custom, true, st.UpdatedAt
				cache.put(t)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// Put changes the template of the mail name after Parse accepts it
// (validation_failed with the template's error otherwise), audited.
// ErrTemplateNotFound for a name that is no mail.
func (s *Service) Put(ctx context.Context, name, subject, body string) (Template, error) {
	now := s.now()
	if _, err := access.RequireRecent(ctx, access.MailManage, now); err != nil {
		return Template{}, err
	}
	if !knownName(name) {
		return Template{}, ErrTemplateNotFound
	}
	t, err := Parse(name, subject, body)
	if err != nil {
		return Template{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	t.Custom, t.UpdatedAt = true, now
	rec := audit.New(ctx, now, ActionTemplateUpdate, name, audit.Success,
		fmt.Sprintf("subject %d bytes, body %d bytes", len(subject), len(body)))
	if err := s.store.PutMailTemplate(ctx, Stored{Name: name, Subject: subject, Body: body, UpdatedAt: now}, rec); err != nil {
		return Template{}, fmt.Errorf("store mail template: %w", err)
	}
	return t, nil
}

// Reset puts back the default template of the mail name, audited.
// ErrTemplateNotFound for a name that is no mail.
func (s *Service) Reset(ctx context.Context, name string) error {
	now := s.now()
	if _, err := access.RequireRecent(ctx, access.MailManage, now); err != nil {
		return err
	}
	if !knownName(name) {
		return ErrTemplateNotFound
	}
	rec := audit.New(ctx, now, ActionTemplateReset, name, audit.Success, "")
	if err := s.store.DeleteMailTemplate(ctx, name, rec); err != nil {
		return fmt.Errorf("reset mail template: %w", err)
	}
	return nil
}
