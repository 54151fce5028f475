// Command cshub is the Cyber Security Collaboration Hub: an encrypted workspace where national
// CERTs gather threat intelligence, collaborate on it and train together. `cshub help` lists its
// subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
