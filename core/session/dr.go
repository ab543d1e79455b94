package session

import (
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// ReasonRestored is the reason of a session held STOPPED in a store restored from a
// backup (HoldRestored), until the operator starts it or resumes the gateway.
const ReasonRestored = "restored"

// messageRestored says what to do about a held session.
const messageRestored = "restored from a backup and held stopped so that two gateways never drive one number; " +
	"start it (POST /api/sessions/{session}/start) or resume the gateway (POST /api/admin/resume)"

// HoldRestored sets every session of db that was started, or meant to be (its
// Running intent set), STOPPED with reason "restored", keeping the intent. It is what
// `wagate restore` runs on the store it restored, before any gateway opens it, and
// returns how many sessions it held. While the store carries the restore hold the
// gateway boots with Restore(ctx, false), which starts none of them, and the health
// monitor leaves STOPPED sessions alone; ResumeRestored, or a start of the session,
// ends the hold. Once the hold marker is gone, a boot restore starts them as any
// session with its intent set (so a crash in the middle of a resume loses nothing).
func HoldRestored(db *store.DB) (int, error) {
	held := 0
	err := db.Update(func(txn *badger.Txn) error {
		held = 0
		type hold struct {
			tenant string
			rec    Record
		}
		var todo []hold
		if err := records.Scan(txn, func(rest []string, r Record) error {
			if r.Running || r.State.running() {
				todo = append(todo, hold{rest[0], r})
			}
			return nil
		}); err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, h := range todo {
			r := h.rec
			r.State, r.Reason, r.Message = StateStopped, ReasonRestored, messageRestored
			r.Version++
			r.UpdatedAt = now
			if err := records.Put(txn, r, h.tenant, r.Name); err != nil {
				return err
			}
			held++
		}
		return nil
	})
	return held, err
}

// ResumeRestored starts every session HoldRestored held (STOPPED, reason "restored",
// intent set) that no operator started or stopped since, RestoreConcurrency at a time
// as a boot restore does, and returns how many it starts. They show STARTING with
// reason "restoring" when it returns; the starts go on in the background (until
// Close). Call it after Restore.
func (m *Manager) ResumeRestored() int {
	var ls []*live
	for _, l := range m.allLives() {
		l.mu.Lock()
		r := l.rec
		l.mu.Unlock()
		if r.State == StateStopped && r.Reason == ReasonRestored && r.Running {
			ls = append(ls, l)
		}
	}
	for _, l := range ls {
		// restoreOne starts only sessions that show this, so an operator's stop in
		// between wins.
		rec := l.update(func(r *Record) { r.State, r.Reason = StateStarting, ReasonRestoring })
		m.persistAndPublish(l, rec)
	}
	if len(ls) > 0 && !m.spawn(func() { m.restoreStaggered(m.ctx, ls, make([]time.Duration, len(ls)), m.clock.Now()) }) {
		return 0
	}
	return len(ls)
}
