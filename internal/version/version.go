// Package version says which build of Evently is running: the release it
// was cut from, the commit, and the Go toolchain that compiled it.
package version

import (
	"runtime"
	"runtime/debug"
)

// version and revision are set at link time by the Makefile and the
// Dockerfile:
//
//	-ldflags "-X github.com/evently/evently/internal/version.version=v1.4.0
//	          -X github.com/evently/evently/internal/version.revision=<commit>"
//
// They are the only package-level variables here because -X can set
// nothing else. Empty means not set.
var (
	version  string
	revision string
)

// DevVersion and UnknownRevision stand for what a build did not record.
const (
	DevVersion      = "dev"
	UnknownRevision = "unknown"
)

// Info describes one build.
type Info struct {
	// Version is the release (git describe), else the module version Go
	// recorded, else "dev".
	Version string
	// Revision is the commit, with "-dirty" when the tree had changes Go
	// saw, else "unknown".
	Revision string
	// GoVersion is the toolchain that compiled the binary.
	GoVersion string
}

// Get returns the running build's Info: what the linker was told, and
// otherwise what Go recorded in the binary (a `go build` inside a git
// checkout records the commit; `go install module@v1.2.3` the version).
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, bi)
}

// resolve picks each field from the linker's values first, then from bi
// (nil when the binary carries no build information).
func resolve(linkVersion, linkRevision string, bi *debug.BuildInfo) Info {
	info := Info{Version: linkVersion, Revision: linkRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Revision == "" {
			info.Revision = vcsRevision(bi.Settings)
		}
	}
	if info.Version == "" {
		info.Version = DevVersion
	}
	if info.Revision == "" {
		info.Revision = UnknownRevision
	}
	return info
}

func vcsRevision(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}
