package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the module's
// build information says what was built.
var version = ""

func runVersion(ctx context.Context, e *env, args []string) error {
	if _, err := parse(flags(e, "version"), args); err != nil {
		return err
	}
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += " " + s.Value[:12]
				}
			}
			v += " " + bi.GoVersion
		}
	}
	fmt.Fprintln(e.stdout, "cshub", v)
	return nil
}
