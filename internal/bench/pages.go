package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// PagesCost measures the HTML pages on SQLite with the whole edge on
// (edgeOn): the storefront's product page for an anonymous visitor and the
// console's findings page for a signed-in admin, each beside the JSON read
// of the same product measured in the same run (the pages call the API in
// process, so the ratio is what drawing a page adds). It also weighs each
// page: the HTML and the assets it links, before images.
func PagesCost(ctx context.Context, o Options) ([]Result, error) {
	sh, err := startShop(ctx, o, "pages", "", "", edgeOn)
	if err != nil {
		return nil, err
	}
	defer sh.Close()
	page := func(path, cookie string) func(int) (*http.Request, error) {
		return func(int) (*http.Request, error) {
			r, err := http.NewRequest("GET", sh.url+path, nil)
			if err != nil {
				return nil, err
			}
			r.Header.Set("Accept", "text/html,application/xhtml+xml")
			if cookie != "" {
				r.Header.Set("Cookie", "__Host-bulwark_session="+cookie)
			}
			return r, nil
		}
	}
	var out []Result
	for _, w := range []struct {
		name string
		mk   func(int) (*http.Request, error)
	}{
		{"pages: JSON product by id", sh.get(sh.url, "/api/v1/products/"+sh.product)},
		{"pages: product page (HTML)", page("/products/"+sh.product, "")},
		{"pages: console findings page", page("/console/findings", sh.admin)},
	} {
		r, err := load(ctx, w.name, o.Concurrency, o.Reads, w.mk, sh.c, http.StatusOK)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(o.Out, r)
		out = append(out, r)
	}
	fmt.Fprintf(o.Out, "  product page / JSON read: throughput %.2f, p99 %.2f\n",
		out[1].PerSecond()/out[0].PerSecond(), float64(out[1].P99)/float64(out[0].P99))
	fmt.Fprintf(o.Out, "  findings page / JSON read: throughput %.2f, p99 %.2f\n",
		out[2].PerSecond()/out[0].PerSecond(), float64(out[2].P99)/float64(out[0].P99))
	for _, p := range []struct{ name, path, cookie string }{
		{"product page", "/products/" + sh.product, ""},
		{"console findings page", "/console/findings", sh.admin},
		{"storefront front page", "/", ""},
	} {
		n, err := weigh(sh, p.path, p.cookie)
		if err != nil {
			return nil, fmt.Errorf("weigh %s: %w", p.name, err)
		}
		fmt.Fprintf(o.Out, "  weight of the %s: %.1f KB (HTML and linked assets, before images)\n", p.name, float64(n)/1024)
	}
	return out, nil
}

// assetRef finds the assets a page links (stylesheet, script, icon).
var assetRef = regexp.MustCompile(`(?:href|src)="(/assets/[^"]+)"`)

// weigh returns the bytes of the page at path and of every asset it links.
func weigh(sh *shop, path, cookie string) (int, error) {
	fetch := func(p string) (string, error) {
		r, err := http.NewRequest("GET", sh.url+p, nil)
		if err != nil {
			return "", err
		}
		r.Header.Set("Accept", "text/html")
		if cookie != "" {
			r.Header.Set("Cookie", "__Host-bulwark_session="+cookie)
		}
		res, err := sh.c.Do(r)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s = %d", p, res.StatusCode)
		}
		return string(b), err
	}
	html, err := fetch(path)
	if err != nil {
		return 0, err
	}
	total := len(html)
	for _, m := range assetRef.FindAllStringSubmatch(html, -1) {
		body, err := fetch(strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil {
			return 0, err
		}
		total += len(body)
	}
	return total, nil
}
