package fim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Rescan is how often every path is recorded again, whatever the
	// events said (a change the kernel did not report: another mount, an
	// overflowed queue). Default 1h.
	Rescan time.Duration
	// Debounce is how long after an event the paths it touched are
	// recorded (a file written in several steps is hashed once). Default
	// 200 ms.
	Debounce time.Duration
	// OnChange is told of changes not reported before (a change is
	// reported again only once it was undone and made again).
	OnChange func([]Change)
	// OnError is told of what stops the watch from seeing (it goes on with
	// its rescans).
	OnError func(error)
	Now     func() time.Time
}

// Watch compares the specs of base with the files as they change until ctx
// ends: inotify events on each monitored file's directory (an editor or a
// package manager replaces a file by renaming another over it, which a
// watch on the file itself would miss) and on each monitored directory,
// plus a periodic full rescan.
func Watch(ctx context.Context, base Baseline, opts WatchOptions) {
	if opts.Rescan <= 0 {
		opts.Rescan = time.Hour
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnError == nil {
		opts.OnError = func(error) {}
	}
	w := &watch{base: base, opts: opts, current: make([][]Entry, len(base.Specs)), reported: map[string]string{}}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if fw, err := fsnotify.NewWatcher(); err != nil {
		opts.OnError(fmt.Errorf("file integrity: no inotify watch, rescans only: %w", err))
	} else {
		defer fw.Close()
		added := map[string]bool{}
		for _, s := range base.Specs {
			dir := filepath.Dir(s.Path)
			if s.Dir {
				dir = s.Path
			}
			if added[dir] {
				continue
			}
			added[dir] = true
			if err := fw.Add(dir); err != nil {
				opts.OnError(fmt.Errorf("file integrity: cannot watch %s, rescans only there: %w", dir, err))
			}
		}
		events, errs = fw.Events, fw.Errors
	}
	all := make([]int, len(base.Specs))
	for i := range all {
		all[i] = i
	}
	w.scan(all)
	rescan := time.NewTicker(opts.Rescan)
	defer rescan.Stop()
	var debounce <-chan time.Time
	pending := map[int]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-rescan.C:
			w.scan(all)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			for i, s := range base.Specs {
				if touches(s, ev) {
					pending[i] = true
				}
			}
			if len(pending) > 0 && debounce == nil {
				debounce = time.After(opts.Debounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			opts.OnError(fmt.Errorf("file integrity: %w", err))
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.scan(all) // events were lost: look at everything
			}
		case <-debounce:
			debounce = nil
			var idx []int
			for i := range pending {
				idx = append(idx, i)
			}
			clear(pending)
			w.scan(idx)
		}
	}
}

// touches reports whether ev can change what s records: an event on the
// file, or on an entry of the directory (content writes only when the
// directory's content is monitored).
func touches(s Spec, ev fsnotify.Event) bool {
	if !s.Dir {
		return ev.Name == s.Path
	}
	if ev.Name == s.Path {
		return true
	}
	if filepath.Dir(ev.Name) != s.Path || s.skips(filepath.Base(ev.Name)) {
		return false
	}
	return s.Content || !ev.Has(fsnotify.Write) || ev.Has(fsnotify.Create|fsnotify.Remove|fsnotify.Rename|fsnotify.Chmod)
}

type watch struct {
	base     Baseline
	opts     WatchOptions
	current  [][]Entry         // per spec, as last recorded
	reported map[string]string // path+kind → after, of the changes told
}

// scan records the specs idx and tells the changes not told before.
func (w *watch) scan(idx []int) {
	for _, i := range idx {
		es, err := record(w.base.Specs[i])
		if err != nil {
			w.opts.OnError(fmt.Errorf("file integrity: %w", err))
			continue
		}
		w.current[i] = es
	}
	now := Baseline{Specs: w.base.Specs}
	for _, es := range w.current {
		now.Entries = append(now.Entries, es...)
	}
	now.Entries = dedupe(now.Entries)
	changes := Compare(w.base, now)
	var fresh []Change
	still := map[string]bool{}
	for _, c := range changes {
		k := c.Path + "\x00" + c.Kind
		if still[k] {
			continue // a path two specs record
		}
		still[k] = true
		if after, ok := w.reported[k]; ok && after == c.After {
			continue
		}
		w.reported[k] = c.After
		fresh = append(fresh, c)
	}
	for k := range w.reported {
		if !still[k] {
			delete(w.reported, k) // undone: told again if made again
		}
	}
	if len(fresh) > 0 && w.opts.OnChange != nil {
		w.opts.OnChange(fresh)
	}
}
