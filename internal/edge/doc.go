// Package edge owns Bulwark's edge protections, the checks a request meets
// before any service sees it: rate limits now (GCRA, per client address, per
// account and per route class, shared across instances through Redis), and the
// client address they key on (X-Forwarded-For believed only from trusted
// proxies). IP allow and deny lists, the web application firewall and bot traps
// come next, in this package too. It imports no Bulwark service and no net/http
// handler code: the HTTP layer asks it for decisions.
package edge
