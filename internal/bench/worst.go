package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"
)

// worstCase is one hostile request shape of Worst.
type worstCase struct {
	name string
	// who: "anonymous", "customer" or "staff" (who can send it).
	who string
	mk  func(sh *shop, admin string) (*http.Request, error)
}

// raw builds a request with a literal body and content type.
func raw(method, url, token, contentType, body string, header map[string]string) (*http.Request, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r, nil
}

// jsonString is a JSON object whose one field holds s, n bytes of it in all.
func jsonString(field, unit string, n int) string {
	pre := `{"` + field + `":"`
	return pre + strings.Repeat(unit, (n-len(pre)-2)/len(unit)) + `"}`
}

// jsonKeys is a JSON object of k short members.
func jsonKeys(k int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range k {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString("}")
	return b.String()
}

func worstCases() []worstCase {
	const anon, cust, staff = "anonymous", "customer", "staff"
	const js, form = "application/json", "application/x-www-form-urlencoded"
	post := func(path, ct, body string) func(*shop, string) (*http.Request, error) {
		return func(sh *shop, _ string) (*http.Request, error) { return raw("POST", sh.url+path, "", ct, body, nil) }
	}
	kib := 1 << 10
	multipart := "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + strings.Repeat("a", 4*kib-200) + "\r\n--b--\r\n"
	return []worstCase{
		{"register: one long string (4 KiB, the anonymous limit)", anon, post("/api/v1/auth/register", js, jsonString("name", "a", 4*kib))},
		{"register: long string of words (4 KiB)", anon, post("/api/v1/auth/register", js, jsonString("name", "select a from b ", 4*kib))},
		{"register: 60 small members (under the argument limit)", anon, post("/api/v1/auth/register", js, jsonKeys(60))},
		{"register: 400 small members (over the argument limit)", anon, post("/api/v1/auth/register", js, jsonKeys(400))},
		{"register: nesting depth 30", anon, post("/api/v1/auth/register", js, strings.Repeat(`{"a":`, 30)+"1"+strings.Repeat("}", 30))},
		{"register: nesting depth 600", anon, post("/api/v1/auth/register", js, strings.Repeat(`{"a":`, 600)+"1"+strings.Repeat("}", 600))},
		{"register: url-encoded long value (4 KiB)", anon, post("/api/v1/auth/register", form, "email="+strings.Repeat("a", 4*kib-6))},
		{"register: url-encoded 500 arguments", anon, post("/api/v1/auth/register", form, strings.Repeat("a=1&", 500)[:1999])},
		{"register: multipart one field (4 KiB)", anon, post("/api/v1/auth/register", "multipart/form-data; boundary=b", multipart)},
		{"products: query string of 4 KiB", anon, func(sh *shop, _ string) (*http.Request, error) {
			return raw("GET", sh.url+"/api/v1/products?q="+strings.Repeat("a", 4*kib-30), "", "", "", nil)
		}},
		{"products: 500 query arguments", anon, func(sh *shop, _ string) (*http.Request, error) {
			return raw("GET", sh.url+"/api/v1/products?"+strings.Repeat("a=1&", 500)[:1999], "", "", "", nil)
		}},
		{"products: three headers of 8 KiB", anon, func(sh *shop, _ string) (*http.Request, error) {
			v := strings.Repeat("a", 8*kib-40)
			return raw("GET", sh.url+"/api/v1/products", "", "", "", map[string]string{"X-A": v, "X-B": v, "X-C": v})
		}},
		{"products: the old attack, 1 MiB string on a GET", anon, func(sh *shop, _ string) (*http.Request, error) {
			return raw("GET", sh.url+"/api/v1/products", "", js, jsonString("q", "a", 1<<20-100), nil)
		}},
		{"catalog write from a stranger (60 KiB)", anon, post("/api/v1/admin/products", js, jsonString("name", "a", 60*kib))},
		{"carts: one long string (4 KiB, the route's limit)", cust, func(sh *shop, _ string) (*http.Request, error) {
			return raw("POST", sh.url+"/api/v1/carts", sh.customers[0].token, js, jsonString("currency", "a", 4*kib), nil)
		}},
		{"carts: long string of words (4 KiB)", cust, func(sh *shop, _ string) (*http.Request, error) {
			return raw("POST", sh.url+"/api/v1/carts", sh.customers[0].token, js, jsonString("currency", "select a from b ", 4*kib), nil)
		}},
		{"catalog write: one long string (1 MiB)", staff, func(sh *shop, admin string) (*http.Request, error) {
			return raw("POST", sh.url+"/api/v1/admin/products", admin, js, jsonString("name", "a", 1<<20-100), nil)
		}},
		{"catalog write: one long string (64 KiB, its limit)", staff, func(sh *shop, admin string) (*http.Request, error) {
			return raw("POST", sh.url+"/api/v1/admin/products", admin, js, jsonString("name", "a", 64*kib), nil)
		}},
	}
}

// cpuTime is this process's CPU time (user and system), server and client
// together: the shop runs in this process, and the client's share is the same
// for every request of a size.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// WorstResult is one request shape's cost.
type WorstResult struct {
	Name, Who string
	Status    int
	CPU       time.Duration // median CPU per request
}

// Worst starts a shop on SQLite with the firewall on (blocking, as shipped;
// rate limits out of reach, so every request is served) and sends each of the
// most expensive requests its edge lets through, one at a time, reps times,
// measuring the process's CPU time per request (getrusage). It reports the
// median of each and its ratio to a plain product read in the same run.
func Worst(ctx context.Context, o Options) ([]WorstResult, error) {
	o.Concurrency = 1
	sh, err := startShop(ctx, o, "worst", "", "", nil)
	if err != nil {
		return nil, err
	}
	defer sh.Close()
	// A staff account of its own: the setup's admin has MFA on by now.
	_, enrollment, err := sh.app.Identity.CreateAdmin(ctx, "worst-admin@example.com", "bench admin passphrase", "Worst")
	if err != nil {
		return nil, err
	}
	admin, err := sh.login("worst-admin@example.com", "bench admin passphrase")
	if err != nil {
		return nil, err
	}
	if err := sh.enableMFA(admin, enrollment); err != nil {
		return nil, err
	}
	reps := max(o.WorstReps, 3)
	measure := func(name, who string, mk func() (*http.Request, error)) (WorstResult, error) {
		var cpus []time.Duration
		status := 0
		for range reps {
			if err := ctx.Err(); err != nil {
				return WorstResult{}, err
			}
			r, err := mk()
			if err != nil {
				return WorstResult{}, err
			}
			start := cpuTime()
			res, err := sh.c.Do(r)
			if err != nil {
				return WorstResult{}, fmt.Errorf("%s: %w", name, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			cpus = append(cpus, cpuTime()-start)
			status = res.StatusCode
		}
		slices.Sort(cpus)
		return WorstResult{Name: name, Who: who, Status: status, CPU: cpus[len(cpus)/2]}, nil
	}
	plain, err := measure("plain product read (baseline)", "anonymous", func() (*http.Request, error) {
		return raw("GET", sh.url+"/api/v1/products/"+sh.product, "", "", "", nil)
	})
	if err != nil {
		return nil, err
	}
	out := []WorstResult{plain}
	fmt.Fprintf(o.Out, "%-58s %-9s %6s %10s %8s\n", "request", "who", "status", "CPU ms", "x read")
	line := func(r WorstResult) {
		fmt.Fprintf(o.Out, "%-58s %-9s %6d %10.2f %8.1f\n", r.Name, r.Who, r.Status, ms(r.CPU), float64(r.CPU)/float64(max(plain.CPU, 1)))
	}
	line(plain)
	for _, c := range worstCases() {
		r, err := measure(c.name, c.who, func() (*http.Request, error) { return c.mk(sh, admin) })
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		line(r)
	}
	return out, nil
}
