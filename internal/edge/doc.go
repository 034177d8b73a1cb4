// Package edge owns Bulwark's edge protections, the checks a request meets
// before any service sees it: rate limits (GCRA, per client address, per
// account and per route class, shared across instances through Redis), the
// client address they key on (X-Forwarded-For believed only from trusted
// proxies), IP allow and deny lists by CIDR with an allow list for admin
// routes, expiring dynamic blocks shared through Redis, and the traps that
// recognise bots. The web application firewall comes next, in this package
// too. It knows addresses and time, not HTTP handlers: the HTTP layer asks it
// for decisions.
package edge
