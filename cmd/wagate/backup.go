package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/api"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/backup"
)

// --- the gateway side: the hold of a restored store, the backup routes ---

// restoreHold is the gateway's view of the restore hold (backup.Hold): set at boot when
// the store carries the marker, cleared by resume.
type restoreHold struct {
	held atomic.Bool
	info backup.Hold
}

// openHold reads the marker of a restored store.
func openHold(db *store.DB, log *slog.Logger) (*restoreHold, error) {
	h, ok, err := backup.GetHold(db)
	if err != nil {
		return nil, fmt.Errorf("reading the restore hold: %w", err)
	}
	rh := &restoreHold{info: h}
	rh.held.Store(ok)
	if ok {
		log.Warn("restored store on hold: sessions stay stopped and webhook deliveries paused until POST /api/admin/resume",
			"restored_at", h.RestoredAt, "from", strings.Join(h.From, ","), "sessions_held", h.Sessions)
	}
	return rh, nil
}

func (h *restoreHold) active() bool { return h != nil && h.held.Load() }

// backups is what the API's backup and resume routes call.
func (g *gateway) backups() *api.Backups {
	key := g.db.Badger().Opts().EncryptionKey
	return &api.Backups{
		Encrypted: len(key) > 0,
		Write: func(w io.Writer, since uint64) (backup.Summary, error) {
			return backup.Write(w, g.db.Badger(), since, key)
		},
		Held:   g.hold.active,
		Resume: g.resume,
	}
}

// resume ends the hold of a restored store: the marker goes, webhook deliveries
// resume, the held sessions start (staggered, in the background).
func (g *gateway) resume(ctx context.Context) (api.ResumeResponse, error) {
	was := g.hold.held.Load()
	if err := backup.ClearHold(g.db); err != nil {
		return api.ResumeResponse{}, fmt.Errorf("clearing the restore hold: %w", err)
	}
	g.hold.held.Store(false)
	g.webhooks.Resume()
	started := 0
	if was {
		started = g.sessions.ResumeRestored()
		g.log.Info("restore hold ended", "sessions_started", started)
	}
	return api.ResumeResponse{Held: was, SessionsStarted: started, WebhooksPaused: g.webhooks.Paused()}, nil
}

// --- the commands ---

// cliConfig loads the config for the backup commands. Without a config file they
// still run on the defaults and the environment (WAGATE_STORE_ENCRYPTION_KEY, ...),
// unless --config named a file explicitly.
func cliConfig(c *cobra.Command, path string) (config.Config, error) {
	if f := c.Flag("config"); f != nil && !f.Changed {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return config.Parse(nil, os.LookupEnv)
		}
	}
	return loadConfig(path)
}

// backupCommand is `wagate backup` and `wagate backup verify`.
func backupCommand(cfgPath *string, stdout io.Writer) *cobra.Command {
	var to, dir, gwURL, key string
	var since uint64
	cmd := &cobra.Command{
		Use:   "backup --to FILE [--since N] [--url URL --key ADMINKEY | --dir DATA]",
		Short: "Back up a running gateway (through its API) or a stopped one's data dir",
		Long: "Writes a consistent backup to FILE: from a running gateway through GET /api/admin/backup\n" +
			"(--url, default from server.listen, and --key, default $WAGATE_ADMIN_API_KEY), or, with --dir,\n" +
			"straight from a stopped gateway's data dir. --since takes the version a previous backup printed:\n" +
			"only what changed after it. An encrypted store gives an encrypted backup.\n" +
			"Procedure: docs/operations.md#backup-and-restore.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("backup: --to FILE is required")
			}
			cfg, cfgErr := cliConfig(c, *cfgPath)
			var storeKey []byte
			if cfgErr == nil {
				k, err := cfg.Store.ResolveEncryptionKey()
				if err != nil {
					return err
				}
				storeKey = k
			}
			var write func(w io.Writer) error
			if dir != "" {
				if cfgErr != nil {
					return cfgErr
				}
				write = func(w io.Writer) error { return offlineBackup(w, dir, storeKey, since) }
			} else {
				base := gwURL
				if base == "" {
					base = os.Getenv("WAGATE_URL")
				}
				if base == "" {
					if cfgErr != nil {
						return fmt.Errorf("backup: no --url and no config to find the gateway in: %w", cfgErr)
					}
					base = listenURL(cfg.Server.Listen)
				}
				if key == "" {
					key = os.Getenv("WAGATE_ADMIN_API_KEY")
				}
				if key == "" && cfgErr == nil {
					key, _ = cfg.Admin.ResolveAPIKey()
				}
				if key == "" {
					return errors.New("backup: the admin key is needed: --key or WAGATE_ADMIN_API_KEY (or --dir DATA on a stopped gateway)")
				}
				write = func(w io.Writer) error { return onlineBackup(c.Context(), w, base, key, since) }
			}
			sum, err := writeBackupFile(to, storeKey, write)
			if err != nil {
				return err
			}
			if sum.SHA256 == "" { // encrypted and no key here: framing checked only
				fmt.Fprintf(stdout, "backup written: %s (encrypted; framing checked — run `wagate backup verify` where the store key is)\n", to)
				return nil
			}
			fmt.Fprintf(stdout, "backup written: %s: %d key versions, version %d; next incremental: wagate backup --since %d\n",
				to, sum.Keys, sum.Version, sum.NextSince)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "file to write (must not exist)")
	cmd.Flags().Uint64Var(&since, "since", 0, "back up only what changed after this version (printed by the previous backup)")
	cmd.Flags().StringVar(&gwURL, "url", "", "the gateway's base URL (default $WAGATE_URL, else http:// + server.listen)")
	cmd.Flags().StringVar(&key, "key", "", "the admin API key (default $WAGATE_ADMIN_API_KEY)")
	cmd.Flags().StringVar(&dir, "dir", "", "back up this data dir directly (the gateway must be stopped)")

	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Read a backup end to end: format, checksums, contents; print its counts per key prefix",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := cliConfig(c, *cfgPath)
			if err != nil {
				return err
			}
			storeKey, err := cfg.Store.ResolveEncryptionKey()
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			sum, err := backup.Verify(f, storeKey)
			if err != nil {
				return fmt.Errorf("verify %s: %w", args[0], err)
			}
			if asJSON {
				return printJSON(stdout, sum)
			}
			printSummary(stdout, args[0], sum)
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	cmd.AddCommand(verify)
	return cmd
}

// listenURL turns server.listen into a URL to reach it locally.
func listenURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// writeBackupFile writes a backup to path through a temporary file beside it, checks
// it (fully with the store key; its framing without), and renames it into place: no
// partial file ever has the final name.
func writeBackupFile(path string, storeKey []byte, write func(io.Writer) error) (backup.Summary, error) {
	if _, err := os.Stat(path); err == nil {
		return backup.Summary{}, fmt.Errorf("backup: %s exists; choose a new file name", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return backup.Summary{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing
	if err := write(tmp); err != nil {
		tmp.Close()
		return backup.Summary{}, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return backup.Summary{}, err
	}
	var sum backup.Summary
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return sum, err
	}
	h, err := backup.ReadHeader(tmp)
	if err == nil {
		_, _ = tmp.Seek(0, io.SeekStart)
		if h.Encrypted && len(storeKey) == 0 {
			_, _, err = backup.CheckFrames(tmp)
		} else {
			sum, err = backup.Verify(tmp, storeKey)
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sum, fmt.Errorf("backup: the file written does not check: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return sum, err
	}
	return sum, nil
}

// offlineBackup backs up a stopped gateway's data dir.
func offlineBackup(w io.Writer, dir string, storeKey []byte, since uint64) error {
	db, err := store.Open(store.Options{Dir: dir, EncryptionKey: storeKey, Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w; a running gateway is backed up through its API: wagate backup --to FILE --url URL --key ADMINKEY", err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = backup.Write(w, db.Badger(), since, storeKey)
	return err
}

// onlineBackup streams GET /api/admin/backup into w.
func onlineBackup(ctx context.Context, w io.Writer, base, key string, since uint64) error {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/admin/backup")
	if err != nil {
		return fmt.Errorf("backup: --url: %w", err)
	}
	u.RawQuery = url.Values{"since": {strconv.FormatUint(since, 10)}}.Encode()
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Api-Key", key)
	client := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("backup: reaching the gateway: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("backup: the gateway answered %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("backup: the gateway answered %s", resp.Status)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("backup: receiving the stream: %w", err)
	}
	return nil
}

// restoreCommand is `wagate restore`.
func restoreCommand(cfgPath *string, stdout io.Writer) *cobra.Command {
	var from []string
	var dir string
	var resume bool
	cmd := &cobra.Command{
		Use:   "restore --from FILE [--from INCREMENTAL ...] --dir DIR [--resume]",
		Short: "Restore backups into a new, empty data dir; sessions held stopped until resumed",
		Long: "Loads a full backup and, in order, the incrementals taken after it into DIR, which must be\n" +
			"empty or absent. The restored store boots with every session stopped and webhook deliveries\n" +
			"paused, so that it never drives a number another gateway may still drive, until\n" +
			"POST /api/admin/resume (or a session's own start). --resume restores without the hold.\n" +
			"Procedure: docs/operations.md#backup-and-restore.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(from) == 0 || dir == "" {
				return errors.New("restore: --from FILE and --dir DIR are required")
			}
			cfg, err := cliConfig(c, *cfgPath)
			if err != nil {
				return err
			}
			storeKey, err := cfg.Store.ResolveEncryptionKey()
			if err != nil {
				return err
			}
			return runRestore(stdout, from, dir, storeKey, resume)
		},
	}
	cmd.Flags().StringArrayVar(&from, "from", nil, "backup file; repeat for a full backup then its incrementals, in order")
	cmd.Flags().StringVar(&dir, "dir", "", "data dir to create (must be empty or absent)")
	cmd.Flags().BoolVar(&resume, "resume", false, "no hold: sessions start and webhooks deliver at the first boot")
	return cmd
}

// errDirNotEmpty: restore refuses a directory that holds anything.
var errDirNotEmpty = errors.New("restore: the target directory is not empty")

func runRestore(stdout io.Writer, from []string, dir string, storeKey []byte, resume bool) (err error) {
	created := false
	switch entries, rerr := os.ReadDir(dir); {
	case errors.Is(rerr, fs.ErrNotExist):
		created = true
	case rerr != nil:
		return fmt.Errorf("restore: %w", rerr)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s holds %d entries (%s, ...); restore into a new, empty directory", errDirNotEmpty, dir, len(entries), entries[0].Name())
	}
	// Every file is checked before anything is written: a bad one leaves no half store.
	var sums []backup.Summary
	for i, path := range from {
		sum, err := verifyFile(path, storeKey)
		if err != nil {
			return fmt.Errorf("restore: %s: %w", path, err)
		}
		switch {
		case i == 0 && sum.Since != 0:
			return fmt.Errorf("restore: %s is an incremental backup (since %d); the first --from must be a full backup", path, sum.Since)
		case i > 0 && sum.Since > sums[i-1].NextSince:
			return fmt.Errorf("restore: %s starts after version %d but %s ends at %d: a backup in between is missing",
				path, sum.Since, from[i-1], sums[i-1].NextSince)
		}
		sums = append(sums, sum)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil { // leave nothing a gateway could boot from
			if created {
				os.RemoveAll(dir)
			} else if entries, _ := os.ReadDir(dir); entries != nil {
				for _, e := range entries {
					os.RemoveAll(filepath.Join(dir, e.Name()))
				}
			}
		}
	}()
	db, err := store.Open(store.Options{Dir: dir, EncryptionKey: storeKey, SyncWrites: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()
	for _, path := range from {
		if err := loadFile(db, path, storeKey); err != nil {
			return fmt.Errorf("restore: %s: %w", path, err)
		}
	}
	last := sums[len(sums)-1]
	held := 0
	if resume {
		if err := backup.ClearHold(db); err != nil { // a backup of a held store carries its hold
			return err
		}
	} else {
		if held, err = session.HoldRestored(db); err != nil {
			return fmt.Errorf("restore: holding sessions: %w", err)
		}
		names := make([]string, len(from))
		for i, p := range from {
			names[i] = filepath.Base(p)
		}
		if err := backup.SetHold(db, backup.Hold{RestoredAt: time.Now().UTC(), From: names, Version: last.NextSince, Sessions: held}); err != nil {
			return fmt.Errorf("restore: writing the hold: %w", err)
		}
	}
	closed = true
	if err := db.Close(); err != nil {
		return fmt.Errorf("restore: closing the store: %w", err)
	}
	keys := int64(0)
	for _, s := range sums {
		keys += s.Keys
	}
	fmt.Fprintf(stdout, "restored %d file(s), %d key versions, up to version %d, into %s\n", len(from), keys, last.Version, dir)
	if resume {
		fmt.Fprintln(stdout, "no hold (--resume): sessions start and webhooks deliver at the first boot")
	} else {
		fmt.Fprintf(stdout, "on hold: %d session(s) stay stopped and webhook deliveries paused until POST /api/admin/resume\n", held)
	}
	return nil
}

func verifyFile(path string, storeKey []byte) (backup.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return backup.Summary{}, err
	}
	defer f.Close()
	return backup.Verify(f, storeKey)
}

func loadFile(db *store.DB, path string, storeKey []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = backup.Load(f, db.Badger(), storeKey)
	return err
}

// printSummary prints what verify found.
func printSummary(w io.Writer, file string, s backup.Summary) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	enc := "plain (CRC-32C per frame, SHA-256 of the data)"
	if s.Encrypted {
		enc = "encrypted (AES-256-GCM, key derived from the store key)"
	}
	kind := "full"
	if s.Since != 0 {
		kind = "incremental after version " + strconv.FormatUint(s.Since, 10)
	}
	fmt.Fprintf(tw, "file\t%s\n", file)
	fmt.Fprintf(tw, "format\twagate backup v1, %s\n", enc)
	fmt.Fprintf(tw, "kind\t%s\n", kind)
	fmt.Fprintf(tw, "created\t%s\n", s.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "version\t%d (next incremental: --since %d)\n", s.Version, s.NextSince)
	fmt.Fprintf(tw, "entries\t%d key versions with a value, %d deletion markers\n", s.Keys, s.Deleted)
	fmt.Fprintf(tw, "data\t%d bytes, sha256 %s\n", s.DataBytes, s.SHA256)
	fmt.Fprintln(tw, "\nprefix\tkey versions")
	for _, p := range s.PrefixNames() {
		fmt.Fprintf(tw, "%s\t%d\n", p, s.Prefixes[p])
	}
	tw.Flush()
	fmt.Fprintln(w, "OK")
}
