package sandbox

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

var (
	qrPattern          = regexp.MustCompile(`^2@[A-Za-z0-9+/]+={0,2},[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=$`)
	pairingCodePattern = regexp.MustCompile(`^[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}$`)
	generatedPhone     = regexp.MustCompile(`^1555[0-9]{7}$`)
)

func TestQRRotation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxCodes  int
		first, qr time.Duration
	}{
		{"defaults", 6, 60 * time.Second, 20 * time.Second},
		{"one code", 1, 60 * time.Second, 20 * time.Second},
		{"short", 3, 5 * time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxQRCodes = tc.maxCodes
			cfg.FirstQRTimeout = config.Duration(tc.first)
			cfg.QRTimeout = config.Duration(tc.qr)
			f := newFixture(t, cfg)
			p, rec := f.session("t1", "s1")
			start := f.clock.Now()
			if err := p.Start(context.Background()); err != nil {
				t.Fatalf("Start: %v", err)
			}
			rec.status(provider.StatusPairing, "")

			var prev provider.QREvent
			for i := 1; i <= tc.maxCodes; i++ {
				q := rec.qr()
				if !qrPattern.MatchString(q.Code) {
					t.Fatalf("code %d = %q, not shaped like whatsmeow's", i, q.Code)
				}
				valid := tc.qr
				if i == 1 {
					valid = tc.first
				}
				if want := f.clock.Now().Add(valid); !q.ExpiresAt.Equal(want) {
					t.Fatalf("code %d expires at %s, want %s", i, q.ExpiresAt, want)
				}
				if i > 1 {
					ref, keys, _ := strings.Cut(q.Code, ",")
					prevRef, prevKeys, _ := strings.Cut(prev.Code, ",")
					if ref == prevRef || keys != prevKeys {
						t.Fatalf("code %d: want a new reference and the same keys\n%s\n%s", i, prev.Code, q.Code)
					}
				}
				prev = q
				f.advance(valid - time.Millisecond)
				rec.none()
				f.advance(time.Millisecond)
			}
			rec.status(provider.StatusFailed, "qr_timeout")
			if got, want := f.clock.Since(start), tc.first+time.Duration(tc.maxCodes-1)*tc.qr; got != want {
				t.Fatalf("failed after %s, want %s", got, want)
			}
			f.advance(time.Hour)
			rec.none()
			if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, ErrNotPairing) {
				t.Fatalf("Link after qr_timeout: %v, want ErrNotPairing", err)
			}
			// A failed session starts again.
			if err := p.Start(context.Background()); err != nil {
				t.Fatalf("Start after qr_timeout: %v", err)
			}
			rec.status(provider.StatusPairing, "")
			rec.qr()
		})
	}
}

func TestAutoLink(t *testing.T) {
	cfg := testConfig()
	cfg.AutoLink = config.Duration(5 * time.Second)
	f := newFixture(t, cfg)
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	f.advance(5*time.Second - time.Millisecond)
	rec.none()
	f.advance(time.Millisecond)
	st := rec.status(provider.StatusWorking, "")
	if st.Me == nil || !generatedPhone.MatchString(st.Me.ID.Local) || st.Me.ID.String() != st.Me.ID.Local+"@c.us" {
		t.Fatalf("Me = %+v, want a generated 1555 number @c.us", st.Me)
	}
	if want := "Sandbox " + st.Me.ID.Local; st.Me.PushName != want {
		t.Fatalf("PushName = %q, want %q", st.Me.PushName, want)
	}
	phone, ok, _ := f.links.LoadLink(context.Background(), "t1", "s1")
	if !ok || phone != st.Me.ID.Local {
		t.Fatalf("stored link = %q %v, want %q", phone, ok, st.Me.ID.Local)
	}
	// The QR rotation stopped with the link.
	f.advance(time.Hour)
	rec.none()
}

func TestAutoLinkUsesPairingPhone(t *testing.T) {
	cfg := testConfig()
	cfg.AutoLink = config.Duration(5 * time.Second)
	f := newFixture(t, cfg)
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := p.RequestPairingCode(context.Background(), "+4915112345678"); err != nil {
		t.Fatalf("RequestPairingCode: %v", err)
	}
	f.advance(5 * time.Second)
	if st := rec.status(provider.StatusWorking, ""); st.Me.ID.Local != "4915112345678" {
		t.Fatalf("linked to %s, want the pairing phone", st.Me.ID)
	}
}

func TestLinkPersistsAcrossRestart(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	me, err := f.net.Link("t1", "s1", "15550001111")
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if me.ID.String() != "15550001111@c.us" || me.PushName != "Sandbox 15550001111" {
		t.Fatalf("Link returned %+v", me)
	}
	if st := rec.status(provider.StatusWorking, ""); *st.Me != me {
		t.Fatalf("WORKING Me = %+v, want %+v", st.Me, me)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")

	// A restarted gateway: a new network over the same link store.
	net2 := NewNetwork(testConfig(), f.links, WithClock(f.clock))
	defer net2.Close()
	rec2 := newRecorder(t)
	p2, err := net2.New(provider.Spec{Tenant: "t1", Session: "s1"}, rec2.sink)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p2.Start(context.Background()); err != nil {
		t.Fatalf("Start after restart: %v", err)
	}
	rec2.status(provider.StatusConnecting, "")
	if st := rec2.status(provider.StatusWorking, ""); *st.Me != me {
		t.Fatalf("WORKING after restart Me = %+v, want %+v", st.Me, me)
	}
	if _, err := p2.Send(context.Background(), text("15550002222", "hi")); err != nil {
		t.Fatalf("Send after restart: %v", err)
	}
}

func TestLinkErrors(t *testing.T) {
	f := newFixture(t, testConfig())
	f.linked("t1", "other", "15550009999")
	f.session("t1", "idle")
	pairing, rec := f.session("t1", "pairing")
	if err := pairing.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")

	for _, tc := range []struct {
		name, tenant, session, phone string
		want                         error
	}{
		{"unknown session", "t1", "nope", "", ErrUnknownSession},
		{"other tenant", "t2", "pairing", "", ErrUnknownSession},
		{"not started", "t1", "idle", "", ErrNotPairing},
		{"already working", "t1", "other", "", ErrNotPairing},
		{"phone too short", "t1", "pairing", "1234", ErrInvalidPhone},
		{"phone too long", "t1", "pairing", "1234567890123456", ErrInvalidPhone},
		{"phone not digits", "t1", "pairing", "1555abc1234", ErrInvalidPhone},
		{"phone in use", "t1", "pairing", "15550009999", ErrPhoneInUse},
		{"phone in use with plus", "t1", "pairing", "+15550009999", ErrPhoneInUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.net.Link(tc.tenant, tc.session, tc.phone)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Link: %v, want %v", err, tc.want)
			}
		})
	}
	if errors.Is(ErrNotPairing, provider.ErrNotPairing) == false {
		t.Fatal("ErrNotPairing does not wrap provider.ErrNotPairing")
	}
	// The failed attempts left the session pairing.
	if _, err := f.net.Link("t1", "pairing", ""); err != nil {
		t.Fatalf("Link after errors: %v", err)
	}
}

func TestPairingCode(t *testing.T) {
	f := newFixture(t, testConfig())
	f.linked("t1", "other", "15550009999")
	p, rec := f.session("t1", "s1")

	if _, err := p.RequestPairingCode(context.Background(), "15551234567"); !errors.Is(err, provider.ErrNotPairing) {
		t.Fatalf("before Start: %v, want provider.ErrNotPairing", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()

	for _, tc := range []struct {
		phone string
		want  error
	}{
		{"15551234567", nil},
		{"+15551234567", nil},
		{"12345", nil},
		{"123456789012345", nil},
		{"1234", ErrInvalidPhone},
		{"1234567890123456", ErrInvalidPhone},
		{"", ErrInvalidPhone},
		{"+1 555 123", ErrInvalidPhone},
		{"15550009999", ErrPhoneInUse},
	} {
		t.Run(tc.phone, func(t *testing.T) {
			code, err := p.RequestPairingCode(context.Background(), tc.phone)
			if !errors.Is(err, tc.want) {
				t.Fatalf("RequestPairingCode(%q): %v, want %v", tc.phone, err, tc.want)
			}
			if err == nil && !pairingCodePattern.MatchString(code) {
				t.Fatalf("code %q is not XXXX-XXXX in the pairing alphabet", code)
			}
		})
	}

	if _, err := p.RequestPairingCode(context.Background(), "4915112345678"); err != nil {
		t.Fatalf("RequestPairingCode: %v", err)
	}
	me, err := f.net.Link("t1", "s1", "")
	if err != nil || me.ID.Local != "4915112345678" {
		t.Fatalf("Link = %+v %v, want the pairing phone", me, err)
	}
	rec.status(provider.StatusWorking, "")
	if _, err := p.RequestPairingCode(context.Background(), "15551234567"); !errors.Is(err, provider.ErrNotPairing) {
		t.Fatalf("after linking: %v, want provider.ErrNotPairing", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.RequestPairingCode(ctx, "15551234567"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: %v", err)
	}
}

func TestPairingCodesDiffer(t *testing.T) {
	f := newFixture(t, testConfig())
	p, _ := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	seen := map[string]bool{}
	for range 50 {
		code, err := p.RequestPairingCode(context.Background(), "15551234567")
		if err != nil {
			t.Fatalf("RequestPairingCode: %v", err)
		}
		seen[code] = true
	}
	if len(seen) < 50 {
		t.Fatalf("%d distinct codes out of 50", len(seen))
	}
}
