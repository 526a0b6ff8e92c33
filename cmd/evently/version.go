package main

import (
	"fmt"
	"io"

	"github.com/evently/evently/internal/version"
)

const versionUsage = `usage: evently version

Prints the release, the commit and the Go version this binary was built
from. The same figures are in the start-up log line, in GET /healthz and in
the evently_build_info metric.
`

// printVersion is `evently version`. It needs no configuration, so it
// works wherever the binary does.
func printVersion(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, versionUsage)
			return nil
		}
		fmt.Fprint(stderr, versionUsage)
		return fmt.Errorf("version takes no arguments, got %q", args)
	}
	v := version.Get()
	fmt.Fprintf(stdout, "evently %s\nrevision: %s\ngo: %s\n", v.Version, v.Revision, v.GoVersion)
	return nil
}
