package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Build metadata that a release build may set with -ldflags (scripts/release.sh does):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.buildDate=2026-01-02T03:04:05Z"
//
// Left empty, they come from the module and VCS information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo).
var (
	commit    = ""
	buildDate = ""
)

// buildInfo is what `wagate version` prints.
type buildInfo struct {
	// Version is -X main.version, else the module version (v1.2.3 when built by
	// `go install ...@v1.2.3`), else "dev".
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from ("" when unknown).
	Commit string `json:"commit,omitempty"`
	// Date is the commit time (vcs.time) or -X main.buildDate.
	Date string `json:"date,omitempty"`
	// Modified is true when the work tree had uncommitted changes.
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	// Module is the main module's path.
	Module string `json:"module,omitempty"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: buildDate, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module = info.Main.Path
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			if b.Date == "" {
				b.Date = s.Value
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// writeVersion prints the build information, as text or as one JSON object.
func writeVersion(w io.Writer, asJSON bool) error {
	b := readBuildInfo()
	if asJSON {
		return json.NewEncoder(w).Encode(b)
	}
	fmt.Fprintln(w, versionString())
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-9s %s\n", k+":", v)
		}
	}
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	row("commit", commit)
	row("date", b.Date)
	row("go", b.GoVersion)
	row("platform", b.Platform)
	row("module", b.Module)
	return nil
}
