// Command wamem measures the memory of idle whatsmeow sessions: -n paired devices in
// wastore, each loaded and given its *whatsmeow.Client, none connected.
//
//	go run ./scripts/wamem              # or scripts/wamem.sh
//	go run ./scripts/wamem -n 100 -contacts 20
//
// It opens a store (core/store, as the gateway does) in a fresh directory and saves -n
// devices, one per gateway session (a wastore.Container each, as the whatsmeow
// provider makes them): keys from Container.NewDevice, an account signature, a LID,
// and -contacts Signal sessions (1,734 random bytes each: the size of a real session,
// see TestRealSessions in core/store/wastore), identity keys and LID mappings, plus
// -prekeys one-time prekeys. It closes the store and runs itself again (-phase
// measure) as a fresh process, as a restarted gateway would be, which:
//
//  1. opens the store and reads the baseline;
//  2. loads every device (wastore.New + GetFirstDevice, as the provider does) and
//     reads again;
//  3. builds the client of each (the provider's NewClient, not connected) and reads
//     again.
//
// Each reading is taken after debug.FreeOSMemory (a GC that also returns free memory
// to the OS): the Go heap in use (runtime.MemStats HeapAlloc, live objects), VmRSS from
// /proc/self/status, and the goroutine count. It prints each step's increase in total
// and per session.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"

	wmprovider "github.com/wagate/wagate/core/provider/whatsmeow"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

const tenant = "wamem"

// sessionSize is the length of the stored Signal sessions: a real one's (see the
// package comment).
const sessionSize = 1734

type options struct {
	n, contacts, prekeys int
	sync, keep           bool
	dir, phase, profile  string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1000, "devices (gateway sessions)")
	flag.IntVar(&o.contacts, "contacts", 5, "Signal sessions, identity keys and LID mappings per device")
	flag.IntVar(&o.prekeys, "prekeys", 50, "one-time prekeys per device")
	flag.BoolVar(&o.sync, "sync", true, "store sync writes, as store.sync_writes")
	flag.StringVar(&o.dir, "dir", "", "data directory (must not exist or be empty); default a new temporary directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory")
	flag.StringVar(&o.profile, "profile", "", "write a heap profile of the sessions, once built, to `file`")
	flag.StringVar(&o.phase, "phase", "all", `"all", or "measure" (internal: load an existing -dir and measure)`)
	flag.Parse()
	var err error
	switch o.phase {
	case "all":
		err = runAll(o)
	case "measure":
		err = measure(o)
	default:
		err = fmt.Errorf("unknown -phase %q", o.phase)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wamem:", err)
		os.Exit(1)
	}
}

func runAll(o options) (err error) {
	if o.n <= 0 || o.contacts < 0 || o.prekeys < 0 {
		return errors.New("-n must be positive, -contacts and -prekeys not negative")
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "wagate-wamem-"); err != nil {
			return err
		}
	} else if entries, err := os.ReadDir(o.dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("-dir %s is not empty", o.dir)
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	fmt.Printf("== wamem: %d idle whatsmeow sessions, %d contacts and %d prekeys each, sync writes %v\n", o.n, o.contacts, o.prekeys, o.sync)
	fmt.Printf("data dir %s; %s %s/%s, GOMAXPROCS %d\n", o.dir, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	t0 := time.Now()
	if err := create(o); err != nil {
		return err
	}
	fmt.Printf("created %d devices in %v\n", o.n, time.Since(t0).Round(time.Millisecond))
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-phase", "measure", "-dir", o.dir, "-n", strconv.Itoa(o.n), "-sync="+strconv.FormatBool(o.sync), "-profile", o.profile)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Printf("\n== load and build clients in a new process\n")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	if o.keep {
		fmt.Printf("\nkept %s\n", o.dir)
	}
	return nil
}

// sessionName is the gateway session of device i.
func sessionName(i int) string { return fmt.Sprintf("s%05d", i) }

// create saves the devices and their key material.
func create(o options) error {
	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: o.dir, SyncWrites: o.sync})
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range o.n {
		c, err := wastore.New(db, tenant, sessionName(i), nil)
		if err != nil {
			return err
		}
		d := c.NewDevice() // fresh noise, identity and signed prekey keys
		jid := types.JID{User: strconv.Itoa(15550000000 + i), Device: 12, Server: types.DefaultUserServer}
		d.ID = &jid
		d.LID = types.JID{User: strconv.Itoa(200000000000000 + i), Device: 12, Server: types.HiddenUserServer}
		d.Account = &waAdv.ADVSignedDeviceIdentity{Details: random(120), AccountSignature: random(64),
			AccountSignatureKey: random(32), DeviceSignature: random(64)}
		d.PushName, d.Platform = "Gateway "+strconv.Itoa(i), "android"
		if err := c.PutDevice(ctx, d); err != nil {
			return fmt.Errorf("device %d: %w", i, err)
		}
		if o.prekeys > 0 {
			if _, err := d.PreKeys.GetOrGenPreKeys(ctx, uint32(o.prekeys)); err != nil {
				return fmt.Errorf("device %d prekeys: %w", i, err)
			}
		}
		if o.contacts == 0 {
			continue
		}
		sessions := make(map[string][]byte, o.contacts)
		mappings := make([]wmstore.LIDMapping, o.contacts)
		for k := range o.contacts {
			lid := types.JID{User: strconv.Itoa(100000000000000 + i*o.contacts + k), Server: types.HiddenUserServer}
			sessions[lid.SignalAddress().String()] = random(sessionSize)
			mappings[k] = wmstore.LIDMapping{LID: lid, PN: types.JID{User: strconv.Itoa(14440000000 + i*o.contacts + k), Server: types.DefaultUserServer}}
		}
		if err := d.Sessions.PutManySessions(ctx, sessions); err != nil {
			return err
		}
		if err := d.LIDs.PutManyLIDMappings(ctx, mappings); err != nil {
			return err
		}
		err = d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			for addr := range sessions {
				if err := d.Identities.PutIdentity(ctx, addr, [32]byte(random(32))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// reading is the memory at one step.
type reading struct {
	heap, rss  int64
	goroutines int
}

func read() reading {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return reading{heap: int64(ms.HeapAlloc), rss: vmRSS(), goroutines: runtime.NumGoroutine()}
}

// measure loads the devices of an existing store and builds their clients.
func measure(o options) error {
	if o.dir == "" {
		return errors.New("-phase measure needs -dir")
	}
	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: o.dir, SyncWrites: o.sync})
	if err != nil {
		return err
	}
	defer db.Close()
	base := read()

	t0 := time.Now()
	devices := make([]*wmstore.Device, o.n)
	for i := range o.n {
		c, err := wastore.New(db, tenant, sessionName(i), nil)
		if err != nil {
			return err
		}
		if devices[i], err = c.GetFirstDevice(ctx); err != nil {
			return err
		}
		if devices[i].ID == nil {
			return fmt.Errorf("device of session %s not found", sessionName(i))
		}
	}
	loadTime := time.Since(t0)
	loaded := read()

	t1 := time.Now()
	clients := make([]wmprovider.Client, o.n)
	for i, d := range devices {
		clients[i] = wmprovider.NewClient(d, waLog.Noop)
	}
	clientTime := time.Since(t1)
	built := read()
	for _, c := range clients {
		if c.IsConnected() {
			return errors.New("a client is connected")
		}
	}

	fmt.Printf("loaded %d devices in %v, built %d clients in %v\n", o.n, loadTime.Round(time.Millisecond), o.n, clientTime.Round(time.Millisecond))
	fmt.Printf("%-36s %14s %14s %11s\n", "", "Go heap", "VmRSS", "goroutines")
	fmt.Printf("%-36s %14s %14s %11d\n", "store open (baseline)", kib(base.heap), kib(base.rss), base.goroutines)
	fmt.Printf("%-36s %14s %14s %11d\n", "+ devices loaded", kib(loaded.heap), kib(loaded.rss), loaded.goroutines)
	fmt.Printf("%-36s %14s %14s %11d\n", "+ clients built (not connected)", kib(built.heap), kib(built.rss), built.goroutines)
	per := func(name string, from, to reading) {
		fmt.Printf("%-36s %14s %14s %11.2f\n", name,
			kib((to.heap-from.heap)/int64(o.n)), kib((to.rss-from.rss)/int64(o.n)), float64(to.goroutines-from.goroutines)/float64(o.n))
	}
	fmt.Printf("per session:\n")
	per("  device loaded", base, loaded)
	per("  client built", loaded, built)
	per("  idle session (device + client)", base, built)
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
	}
	runtime.KeepAlive(devices)
	runtime.KeepAlive(clients)
	return nil
}

// vmRSS returns the resident set size in bytes from /proc/self/status, -1 if unknown.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
	}
	return -1
}

// kib formats bytes as KiB with one decimal, or MiB from 10 MiB.
func kib(n int64) string {
	if n >= 10<<20 || n <= -10<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}
