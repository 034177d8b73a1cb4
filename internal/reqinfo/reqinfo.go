// Package reqinfo carries what is known about the request in flight (its id and
// the client's address and user agent) through a context, so audit records and
// log lines can name them without the domain knowing about HTTP.
package reqinfo

import "context"

// Info describes the request that caused an action.
type Info struct {
	RequestID string
	IP        string
	UserAgent string
}

type key struct{}

// With returns a context carrying info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the Info in ctx, or the zero Info for actions that did not come
// over HTTP (the command line, background jobs).
func From(ctx context.Context) Info {
	info, _ := ctx.Value(key{}).(Info)
	return info
}
