package api

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/store/backup"
)

// Backups serves the backup and resume routes (docs/operations.md#backup-and-restore).
type Backups struct {
	// Encrypted tells whether the store, and so its backups, are encrypted.
	Encrypted bool
	// Write writes a backup of the store to w: the versions above since (0: full).
	Write func(w io.Writer, since uint64) (backup.Summary, error)
	// Held reports whether the gateway runs a restored store on hold: sessions held
	// stopped, webhook deliveries paused.
	Held func() bool
	// Resume ends the hold: webhook deliveries resume, held sessions start.
	Resume func(ctx context.Context) (ResumeResponse, error)

	streaming atomic.Bool // one backup at a time
}

// ResumeResponse is the body of POST /api/admin/resume and GET /api/admin/hold.
type ResumeResponse struct {
	// Held: the store is on hold (GET), or was when resume was called (POST).
	Held bool `json:"held"`
	// SessionsStarted counts the held sessions whose start was attempted (POST).
	SessionsStarted int `json:"sessionsStarted"`
	// WebhooksPaused tells whether webhook deliveries are paused (after the call).
	WebhooksPaused bool `json:"webhooksPaused"`
}

// Backup response headers.
const (
	// HeaderBackupSince is the since of the backup being streamed (0: full).
	HeaderBackupSince = "X-Wagate-Backup-Since"
	// HeaderBackupEncrypted is "true" when the stream is encrypted with the store key.
	HeaderBackupEncrypted = "X-Wagate-Backup-Encrypted"
)

func (s *Server) backupRoutes() []route {
	if s.d.Backups == nil {
		return nil
	}
	return []route{
		{
			method: http.MethodGet, path: "/api/admin/backup", auth: authAdmin, stream: true,
			handle: s.streamBackup,
			doc: routeDoc{tag: "admin", summary: "Stream a consistent backup of the store (wagate backup)",
				description: "A wagate backup file (format in docs/operations.md#backup-and-restore): Badger's " +
					"consistent backup, encrypted with the store key when the store is encrypted at rest. The " +
					"file's trailer holds its version; pass it as `since` for the next incremental backup. A " +
					"stream that fails midway ends without a trailer, which `wagate backup verify` reports. One " +
					"backup streams at a time: another answers 409 `backup_running`.",
				contentType: "application/octet-stream",
				query:       []string{"since: 0 (default) for a full backup, else the version of the previous backup: only what changed after it"}},
		},
		{
			method: http.MethodPost, path: "/api/admin/resume", auth: authAdmin,
			handle: s.resume,
			doc: routeDoc{tag: "admin", summary: "Resume a restored store: start the held sessions, deliver webhooks",
				description: "A store restored by `wagate restore` (without `--resume`) boots with its sessions " +
					"held STOPPED (reason `restored`) and webhook deliveries paused. This ends the hold, once: " +
					"it is idempotent, and `held` says whether there was one.",
				response: ResumeResponse{}},
		},
		{
			method: http.MethodGet, path: "/api/admin/hold", auth: authAdmin,
			handle: s.hold,
			doc: routeDoc{tag: "admin", summary: "Whether the gateway runs a restored store on hold",
				response: ResumeResponse{}},
		},
	}
}

func (s *Server) streamBackup(c *fasthttp.RequestCtx, r *request) error {
	var since uint64
	if v := c.QueryArgs().Peek("since"); len(v) > 0 {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return badRequest("invalid_since", "since must be a backup version: a non-negative integer", d("param", "since", "value", string(v)))
		}
		since = n
	}
	if !s.d.Backups.streaming.CompareAndSwap(false, true) {
		return conflict("backup_running", "a backup is already streaming; retry when it has ended")
	}
	conn := c.Conn()
	ls, err := s.openStream(conn)
	if err != nil {
		s.d.Backups.streaming.Store(false)
		return err
	}
	_ = c.SetWriteDeadline(time.Time{}) // a long body: every write sets its own deadline
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("application/octet-stream")
	c.Response.Header.Set("Content-Disposition", `attachment; filename="wagate-`+time.Now().UTC().Format("20060102T150405Z")+`.wbk"`)
	c.Response.Header.Set("Cache-Control", "no-store")
	c.Response.Header.Set(HeaderBackupSince, strconv.FormatUint(since, 10))
	c.Response.Header.Set(HeaderBackupEncrypted, strconv.FormatBool(s.d.Backups.Encrypted))
	start := time.Now()
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.d.Backups.streaming.Store(false)
		defer s.closeStream(ls)
		defer s.recoverStream(r)
		sum, err := s.d.Backups.Write(deadlineWriter{w: w, conn: conn, s: s}, since)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			// The status is gone: the client sees a file without its trailer.
			r.log.Warn("backup stream failed", "since", since, "err", err, "duration", time.Since(start))
			return
		}
		r.log.Info("backup streamed", "since", since, "version", sum.Version, "keys", sum.Keys,
			"bytes", sum.DataBytes, "encrypted", sum.Encrypted, "duration", time.Since(start))
	})
	return nil
}

// deadlineWriter sets the connection's write deadline before every write, so that a
// client that stops reading ends the backup instead of holding it forever.
type deadlineWriter struct {
	w    *bufio.Writer
	conn net.Conn
	s    *Server
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(d.s.streamWriteDeadline())
	}
	return d.w.Write(p)
}

func (s *Server) resume(c *fasthttp.RequestCtx, r *request) error {
	res, err := s.d.Backups.Resume(r.ctx)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, res)
}

func (s *Server) hold(c *fasthttp.RequestCtx, _ *request) error {
	held := s.d.Backups.Held()
	return writeJSON(c, http.StatusOK, ResumeResponse{Held: held, WebhooksPaused: held})
}
