// Package wasmtest builds WASM policies from source for tests: Go packages with the Go
// SDK (sdk/wasm) for GOOS=wasip1, and WebAssembly text with wat2wasm. Each source is
// built once per test binary, however many tests ask.
//
//	mod := wasmtest.BuildGo(t, "github.com/wagate/wagate/examples/wasm-router-go")
//	p, err := policy.Open(ctx, wasm.New(wasm.Options{}), policy.Spec{..., Source: mod})
package wasmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// builds holds the result of each build, by command.
var builds sync.Map // string -> *build

type build struct {
	once sync.Once
	mod  []byte
	err  error
}

// once runs make for key the first time and returns its result ever after.
func once(key string, make func() ([]byte, error)) ([]byte, error) {
	v, _ := builds.LoadOrStore(key, &build{})
	b := v.(*build)
	b.once.Do(func() { b.mod, b.err = make() })
	return b.mod, b.err
}

// BuildGo builds the main package pkg (an import path, or a directory relative to the
// test's) as a WASI reactor, as a policy author does:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// and returns the module. A failed build fails the test.
func BuildGo(tb testing.TB, pkg string) []byte {
	tb.Helper()
	key := pkg
	if strings.HasPrefix(pkg, ".") {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			tb.Fatal(err)
		}
		key = abs
	}
	mod, err := once("go "+key, func() ([]byte, error) { return buildGo(key) })
	if err != nil {
		tb.Fatal(err)
	}
	return mod
}

func buildGo(pkg string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "wasmtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "policy.wasm")
	cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	return os.ReadFile(out)
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Wat2Wasm assembles the WebAssembly text file with wat2wasm (Debian's wabt package)
// and returns the module. It skips the test when wat2wasm is not installed.
func Wat2Wasm(tb testing.TB, file string) []byte {
	tb.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Skip("wat2wasm is not installed (apt-get install wabt): skipping the WAT build")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		tb.Fatal(err)
	}
	mod, err := once("wat "+abs, func() ([]byte, error) {
		dir, err := os.MkdirTemp("", "wasmtest-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "policy.wasm")
		if b, err := exec.Command(tool, "-o", out, abs).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("wat2wasm %s: %v\n%s", file, err, b)
		}
		return os.ReadFile(out)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return mod
}

// BuiltinsPkg is the import path of the Go SDK builds of the built-in policies: one
// main package per policy, named as the policy is registered.
const BuiltinsPkg = "github.com/wagate/wagate/examples/wasm-builtins"

// Builtin returns the Go SDK build of the built-in policy registered as name (from
// examples/wasm-builtins/<name>), or nil when there is none. The first call builds them
// all, concurrently.
func Builtin(tb testing.TB, name string) []byte {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "wasm-builtins")
	prebuild.Do(func() {
		entries, _ := os.ReadDir(dir)
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(runtime.GOMAXPROCS(0), 2))
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				pkg := BuiltinsPkg + "/" + e.Name()
				_, _ = once("go "+pkg, func() ([]byte, error) { return buildGo(pkg) })
			}()
		}
		wg.Wait()
	})
	if !fileExists(filepath.Join(dir, name, "main.go")) {
		return nil
	}
	return BuildGo(tb, BuiltinsPkg+"/"+name)
}

var prebuild sync.Once

var root struct {
	once sync.Once
	dir  string
	err  error
}

// moduleRoot is the directory of the go.mod of the tests' module.
func moduleRoot() (string, error) {
	root.once.Do(func() {
		out, err := exec.Command(goTool(), "env", "GOMOD").Output()
		if err != nil {
			root.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			root.err = fmt.Errorf("not in a Go module")
			return
		}
		root.dir = filepath.Dir(gomod)
	})
	return root.dir, root.err
}
