package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStampFrom(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "4f1c2d9"}, {Key: "vcs.time", Value: "2026-11-30T08:15:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name           string
		bi             *debug.BuildInfo
		ver, rev, date string
		want           buildStamp
	}{
		{
			name: "make build stamps everything",
			bi:   vcs, ver: "v1.4.0", rev: "0123abc", date: "2026-12-01T10:00:00Z",
			want: buildStamp{Version: "v1.4.0", Commit: "0123abc", Date: "2026-12-01T10:00:00Z"},
		},
		{
			name: "go build in a checkout: the VCS stamp",
			bi:   vcs,
			want: buildStamp{Version: "dev", Commit: "4f1c2d9", Date: "2026-11-30T08:15:00Z", Modified: true},
		},
		{
			name: "go install of a release: the module version",
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			want: buildStamp{Version: "v1.4.0", Commit: "unknown", Date: "unknown"},
		},
		{
			name: "no build info",
			want: buildStamp{Version: "dev", Commit: "unknown", Date: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Go, tt.want.Platform = runtime.Version(), platform
			got := stampFrom(tt.bi, tt.ver, tt.rev, tt.date)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stampFrom (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	defer func(v, c, d string) { version, commit, buildDate = v, c, d }(version, commit, buildDate)
	version, commit, buildDate = "v1.4.0", "0123abc", "2026-12-01T10:00:00Z"
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("gantry version exited %d: %s", code, stderr.String())
	}
	want := "gantry v1.4.0 (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n" +
		"commit:     0123abc\n" +
		"built:      2026-12-01T10:00:00Z\n" +
		"go:         " + runtime.Version() + "\n" +
		"platform:   " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if diff := cmp.Diff(want, stdout.String()); diff != "" {
		t.Errorf("gantry version (-want +got):\n%s", diff)
	}
	if got := buildVersion(); got != "v1.4.0" {
		t.Errorf("buildVersion() = %q, want v1.4.0 (gantry_build_info's version label)", got)
	}
	if got := versionString(); !strings.HasPrefix(got, "gantry v1.4.0 (go") {
		t.Errorf("versionString() = %q", got)
	}
}
