package app_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// The browser tests drive Debian's Chromium (package chromium, never a
// downloaded browser) headless through the DevTools protocol (chromedp), as
// root with --no-sandbox, background networking off: the machine's network is
// closed and every request must go to the test's server on loopback.

// axeSource is axe-core, vendored from npm (testdata/axe-core: version,
// licence and hashes in docs/DEPENDENCIES.md; CI checks SHA256SUMS). It is
// put into each page through the DevTools protocol, not served by the shop.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// chromiumPath finds Debian's Chromium; without it the browser tests skip,
// unless the run requires every service (CI), where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("BULWARK_TEST_REQUIRE_SERVICES") != "" {
		t.Fatal("no Chromium: install Debian's chromium package (.ci/run does)")
	}
	t.Skip("no Chromium (Debian package chromium)")
	return ""
}

// browser is one headless Chromium tab on the test's server. It collects
// what a page must never produce: console errors, uncaught exceptions and
// Content-Security-Policy violations.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // http://localhost:port: a secure context for __Host- cookies and passkeys

	mu       sync.Mutex
	problems []string
}

// newBrowser starts Chromium for the server s.
func newBrowser(t *testing.T, s *server) *browser {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: "http://localhost:" + u.Port()}
	// Start the browser, then listen: a page's messages from here on are kept.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("console %s: %s (%s)", m.Type, m.Text, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	// Every document records its CSP violations where check reads them; a
	// script the DevTools protocol adds is not subject to the page's policy.
	listener := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.effectiveDirective + " " + e.blockedURI));`})
		return err
	})
	if err := chromedp.Do(ctx, listener); err != nil {
		t.Fatalf("install the CSP listener: %v", err)
	}
	return b
}

// do runs actions, failing the test on an error; each call is bounded.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a script in the page and decodes its JSON result.
func eval[T any](b *browser, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %.60q: %v", script, err)
	}
	return v
}

// visit opens path and checks the page.
func (b *browser) visit(path, shot string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady("body"))
	b.check(shot)
}

// location is the page's path and query.
func (b *browser) location() string {
	b.t.Helper()
	return eval[string](b, `location.pathname + location.search`)
}

// text is the text of the page's main element.
func (b *browser) text() string {
	b.t.Helper()
	return eval[string](b, `document.querySelector("main").innerText`)
}

// pageChecks is what check asks of every page, in the page.
const pageChecks = `(() => {
  const out = [];
  for (const v of window.__csp || []) out.push("CSP violation: " + v);
  document.querySelectorAll("script:not([src])").forEach((s) => out.push("inline script: " + s.outerHTML.slice(0, 80)));
  document.querySelectorAll("[style]").forEach((e) => out.push("inline style attribute on <" + e.tagName.toLowerCase() + ">"));
  document.querySelectorAll("style").forEach(() => out.push("inline <style> element"));
  document.querySelectorAll("*").forEach((e) => { for (const a of e.attributes) if (a.name.startsWith("on")) out.push("inline handler " + a.name + " on <" + e.tagName.toLowerCase() + ">"); });
  document.querySelectorAll("script[src], link[rel=stylesheet]").forEach((e) => {
    const u = new URL(e.src || e.href);
    if (u.origin !== location.origin) out.push("third-party origin: " + u.origin);
    if (!e.integrity) out.push("no integrity on " + (e.src || e.href));
  });
  document.querySelectorAll("input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea").forEach((e) => {
    if (e.closest("[aria-hidden=true]")) return;
    if (e.labels.length === 0 && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby")) out.push("unlabelled control: " + e.name);
  });
  return out;
})()`

// axeRun runs axe-core's WCAG 2.1 A and AA rules on the page.
const axeRun = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
  .then((r) => r.violations.map((v) => v.id + " (" + v.impact + "): " + v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")))`

// check fails the test for anything wrong with the page in the tab: CSP
// violations, console errors, inline script or style, an asset from another
// origin or without integrity, an unlabelled control, or any violation of
// axe-core's WCAG 2.1 AA rules; and saves a screenshot named shot ("" for
// none) in the screenshot folder.
func (b *browser) check(shot string) {
	b.t.Helper()
	path := b.location()
	problems := eval[[]string](b, pageChecks)
	if eval[bool](b, `typeof axe === "undefined"`) {
		b.do(chromedp.Evaluate[chromedp.Void](axeSource))
	}
	for _, v := range eval[[]string](b, axeRun) {
		problems = append(problems, "axe: "+v)
	}
	b.mu.Lock()
	problems = append(problems, b.problems...)
	b.problems = nil
	b.mu.Unlock()
	for _, p := range problems {
		b.t.Errorf("page %s: %s", path, p)
	}
	if shot != "" {
		b.screenshot(shot)
	}
}

// screenshotDir is where the browser tests save their screenshots:
// BULWARK_SCREENSHOTS, or a folder under the system's temporary one. The
// README's screenshots in docs/screenshots are made with
// BULWARK_SCREENSHOTS=docs/screenshots (docs/OPERATIONS.md).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("BULWARK_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bulwark-screenshots")
	} else if !filepath.IsAbs(dir) {
		// go test runs in the package's folder; the variable is meant
		// from the repository's root.
		dir = filepath.Join("..", "..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(b.t), name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// fill sets the form field sel to value, as typed keys: the way a person
// (or a keyboard-only visitor) fills it.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	// Emptied by a script: chromedp v0.23's SetValue(sel, "") sends the
	// value as undefined (the field then holds "undefined"), and its Clear
	// fails on an empty textarea.
	b.do(chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsonOf(sel)+`).value = ""`),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// submit presses Enter in the field sel (keyboard only) and waits for the
// next page.
func (b *browser) submit(sel string) {
	b.t.Helper()
	b.navigateBy(chromedp.SendKeys(chromedp.CSS(sel), "\r"))
}

// click clicks the button or link sel and waits for the next page.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.navigateBy(chromedp.Click(chromedp.CSS(sel)))
}

// navigateBy runs action, which leaves the page, and waits until the next
// document has loaded: the old one is marked first, so its own "complete"
// is not taken for the new one's.
func (b *browser) navigateBy(action chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`window.__leaving = true`), action)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!window.__leaving && document.readyState === "complete"`))
		cancel()
		if err == nil && done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.mu.Lock()
	problems := strings.Join(b.problems, "\n")
	b.mu.Unlock()
	b.t.Fatalf("no new page loaded in 30 s after leaving %s; the page says:\n%s\n%s", b.location(), b.text(), problems)
}

// mustSee fails unless the main text contains each of texts.
func (b *browser) mustSee(texts ...string) {
	b.t.Helper()
	main := b.text()
	for _, s := range texts {
		if !strings.Contains(main, s) {
			b.t.Fatalf("page %s does not say %q; it says:\n%s", b.location(), s, main)
		}
	}
}

// jsonOf is a value as JSON, for scripts.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPagesInBrowser is the smallest walk: the storefront's front page, a
// product and the sign-in forms pass every page check. Then it breaks the
// rules on purpose, to show the checks and the policy catch each breach: an
// inline script the page adds is refused by the browser, reported to
// /csp-report and counted; an inline style, an unlabelled field and a
// handler attribute are each found.
func TestPagesInBrowser(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("browser-admin@example.com")
		prod := s.createProduct(admin, "BROWSE-1", 10)
		b := newBrowser(t, s)
		b.visit("/", "storefront-home")
		b.mustSee(prod.Name)
		b.visit("/products/"+prod.ID, "storefront-product")
		b.visit("/signin", "")
		b.visit("/console/signin", "console-signin")

		ran := eval[bool](b, `(() => {
		  const s = document.createElement("script");
		  s.textContent = "window.__ran = true";
		  document.head.appendChild(s);
		  const d = document.createElement("div");
		  d.setAttribute("style", "color: red");
		  d.setAttribute("onclick", "x()");
		  const i = document.createElement("input");
		  i.name = "unlabelled";
		  d.appendChild(i);
		  document.querySelector("main").appendChild(d);
		  return window.__ran === true;
		})()`)
		if ran {
			t.Fatal("an inline script ran under the pages' policy")
		}
		deadline := time.Now().Add(10 * time.Second)
		for s.metricSum("bulwark_csp_violations_total") < 1 {
			if time.Now().After(deadline) {
				t.Fatal("the browser's violation report was not counted at /csp-report")
			}
			time.Sleep(50 * time.Millisecond)
		}
		found := strings.Join(eval[[]string](b, pageChecks), "\n")
		for _, want := range []string{"CSP violation: script-src-elem", "inline script", "inline style attribute", "inline handler onclick", "unlabelled control: unlabelled"} {
			if !strings.Contains(found, want) {
				t.Errorf("the page checks missed %q; they found:\n%s", want, found)
			}
		}
		b.mu.Lock()
		b.problems = nil // the breach above was made on purpose
		b.mu.Unlock()
	})
}
