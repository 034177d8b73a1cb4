// Command bulwark runs the Bulwark e-commerce backend and its maintenance
// commands. Everything but signal handling lives in internal/app.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bulwark-shop/bulwark/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		HashWorker: app.HashWorkerCommand})
	stop()
	os.Exit(code)
}
