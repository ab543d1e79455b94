package wasm

import "errors"

// Errors of loading a module. Each is wrapped with the import or export it is about.
var (
	// ErrNotWasm: the source is not a WebAssembly binary module (text format, a
	// component, another file).
	ErrNotWasm = errors.New("not a WebAssembly binary module")
	// ErrModuleSize: the module is larger than Options.MaxModuleSize.
	ErrModuleSize = errors.New("module too large")
	// ErrImport: the module imports something the host does not provide: a WASI
	// function reaching files, sockets or signals, a module other than wagate and
	// wasi_snapshot_preview1, a memory, table or global, or a function with another
	// signature.
	ErrImport = errors.New("import not allowed")
	// ErrExport: a required export is missing, or an export has the wrong type.
	ErrExport = errors.New("bad export")
	// ErrClosed: the runtime was closed.
	ErrClosed = errors.New("wasm runtime closed")
)
