package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/evently/evently", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{
		Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name             string
		linkVer, linkRev string
		bi               *debug.BuildInfo
		want             Info
	}{
		{"linker values win", "v1.4.0", "feedbeef", stamped, Info{"v1.4.0", "feedbeef", "go1.99.1"}},
		{"what Go recorded", "", "", stamped, Info{"v0.3.0", "0123abcd", "go1.99.1"}},
		{"a devel build of a changed tree", "", "", dirty, Info{DevVersion, "0123abcd-dirty", runtime.Version()}},
		{"nothing recorded", "", "", nil, Info{DevVersion, UnknownRevision, runtime.Version()}},
		{"version only", "v2.0.0", "", &debug.BuildInfo{}, Info{"v2.0.0", UnknownRevision, runtime.Version()}},
	} {
		if got := resolve(tc.linkVer, tc.linkRev, tc.bi); got != tc.want {
			t.Errorf("%s: resolve() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestGet: a test binary carries build information, so Get fills every
// field.
func TestGet(t *testing.T) {
	t.Parallel()
	got := Get()
	if got.Version == "" || got.Revision == "" || got.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v, want every field set and the running Go version", got)
	}
}
