package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// The webhook commands read and change the outbox in the shop database
// directly: they work while the server is down, and a running server's
// worker picks a retried delivery up at its next poll.

// withWebhooks runs fn on the migrated shop database's webhook administration.
func withWebhooks(ctx context.Context, name string, args []string, env Env, extra func(*flag.FlagSet),
	fn func(*webhook.Operator) error) error {
	return withMigratedDBFlags(ctx, name, args, env, extra, func(_ config.Config, db *store.DB) error {
		return fn(webhook.NewOperator(db, env.Now))
	})
}

func webhooksList(ctx context.Context, args []string, env Env) error {
	return withWebhooks(ctx, "webhooks list", args, env, nil, func(o *webhook.Operator) error {
		es, err := o.List(ctx)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			fmt.Fprintln(env.Stdout, "no webhooks")
			return nil
		}
		for _, e := range es {
			fmt.Fprintf(env.Stdout, "%s  %s  events=%s  created %s\n", e.ID, e.URL, strings.Join(e.Events, ","), e.CreatedAt.UTC().Format(time.RFC3339))
		}
		return nil
	})
}

func webhooksDeliveries(ctx context.Context, args []string, env Env) error {
	var endpoint, status string
	var limit int
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&endpoint, "webhook", "", "only this endpoint's deliveries (wh_...)")
		fs.StringVar(&status, "status", "", "only deliveries in this status: pending, succeeded, dead or cancelled")
		fs.IntVar(&limit, "limit", 50, "at most this many, 1 to 1000")
	}
	return withWebhooks(ctx, "webhooks deliveries", args, env, flags, func(o *webhook.Operator) error {
		ds, err := o.Deliveries(ctx, endpoint, status, limit)
		if err != nil {
			return cliRefusal(err)
		}
		if len(ds) == 0 {
			fmt.Fprintln(env.Stdout, "no deliveries")
			return nil
		}
		for _, d := range ds {
			line := fmt.Sprintf("%s  %s  %s  %-9s  attempts=%d  last=%d  updated %s", d.ID, d.EndpointID, d.EventType, d.Status,
				d.Attempts, d.LastStatus, d.UpdatedAt.UTC().Format(time.RFC3339))
			if d.Status == webhook.StatusPending {
				line += "  next " + d.NextAttemptAt.UTC().Format(time.RFC3339)
			}
			if d.LastError != "" {
				line += "  error: " + d.LastError
			}
			fmt.Fprintln(env.Stdout, line)
		}
		return nil
	})
}

func webhooksRetry(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "usage: bulwark webhooks retry ID [settings] (the ID from bulwark webhooks deliveries)")
			return nil
		}
		return usageError{errors.New("webhooks retry: give the delivery's ID (from bulwark webhooks deliveries)")}
	}
	deliveryID := args[0]
	return withWebhooks(ctx, "webhooks retry", args[1:], env, nil, func(o *webhook.Operator) error {
		d, err := o.Retry(ctx, deliveryID)
		if err != nil {
			return cliRefusal(err)
		}
		fmt.Fprintf(env.Stdout, "retrying %s (event %s to %s): due now\n", d.ID, d.EventID, d.EndpointID)
		return nil
	})
}

// cliRefusal turns a refusal of the domain into the command's error: its
// safe message, and the exit status of a usage error for bad input.
func cliRefusal(err error) error {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Message
	for _, f := range e.Fields {
		msg += "; " + f.Field + ": " + f.Message
	}
	if e.Kind() == apperr.KindInvalid || e.Kind() == apperr.KindMalformed {
		return usageError{errors.New(msg)}
	}
	return errors.New(msg)
}
