// Command goplugin-builtins serves one of wagate's built-in policies (plugins/) as a
// go-plugin binary: the rule named by the environment variable WAGATE_BUILTIN
// ("round-robin", "rate-limit", ...), behind sdk/goplugin. The golden suite
// (plugins/golden_test.go) runs every built-in through it, so that the go-plugin
// runtime is held to the same answers as the native and Lua ones; an operator may also
// use it to run a built-in out of process.
package main

import (
	"fmt"
	"os"

	"github.com/wagate/wagate/plugins"
	"github.com/wagate/wagate/sdk/goplugin"
)

func main() {
	p, err := builtin(os.Getenv("WAGATE_BUILTIN"), plugins.Builtins)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goplugin-builtins:", err)
		os.Exit(1)
	}
	goplugin.Serve(p)
}
