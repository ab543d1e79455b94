package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestURLPolicyRefusesNonPublicTargets(t *testing.T) {
	ctx := context.Background()
	p := &URLPolicy{}
	for _, c := range []struct {
		url  string
		want error
	}{
		{"http://127.0.0.1:8080/hook", ErrForbiddenURL},
		{"http://[::1]/hook", ErrForbiddenURL},
		{"http://169.254.169.254/latest/meta-data/", ErrForbiddenURL},
		{"http://10.0.0.5/", ErrForbiddenURL},
		{"http://172.16.3.4/", ErrForbiddenURL},
		{"http://192.168.1.1/", ErrForbiddenURL},
		{"http://100.64.0.1/", ErrForbiddenURL},
		{"http://0.0.0.0/", ErrForbiddenURL},
		{"http://[fd00::1]/", ErrForbiddenURL},
		{"http://[fe80::1]/", ErrForbiddenURL},
		{"http://[::ffff:127.0.0.1]/", ErrForbiddenURL},
		{"http://[64:ff9b::7f00:1]/", ErrForbiddenURL},
		{"http://localhost:9/hook", ErrForbiddenURL}, // a hostname resolving to loopback
		{"ftp://example.com/", ErrInvalidURL},
		{"/relative", ErrInvalidURL},
		{"http://user:pass@93.184.215.14/", ErrInvalidURL},
		{"http:///nohost", ErrInvalidURL},
		{"https://93.184.215.14/hook", nil}, // a public address, no DNS needed
	} {
		_, err := p.Check(ctx, c.url)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Check(%q) = %v, want %v", c.url, err, c.want)
		}
	}
}

func TestURLPolicyAllowlist(t *testing.T) {
	ctx := context.Background()
	p := &URLPolicy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	if _, err := p.Check(ctx, "http://127.0.0.1:9/hook"); err != nil {
		t.Fatalf("allowlisted loopback: %v", err)
	}
	if _, err := p.Check(ctx, "http://10.1.2.3/hook"); !errors.Is(err, ErrForbiddenURL) {
		t.Fatalf("10.1.2.3 with only 127.0.0.1 allowed: %v", err)
	}
	p = &URLPolicy{AllowHosts: []string{"LocalHost"}}
	if _, err := p.Check(ctx, "http://localhost:9/hook"); err != nil {
		t.Fatalf("allowlisted host: %v", err)
	}
}

// The check at connect time: a listener on loopback cannot be reached through Dial
// unless allowlisted, whatever was checked before.
func TestURLPolicyDialChecksAtConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if c, err := (&URLPolicy{}).Dial("localhost:" + port); !errors.Is(err, ErrForbiddenURL) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial localhost without allowlist: %v, want ErrForbiddenURL", err)
	}
	p := &URLPolicy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	c, err := p.Dial("localhost:" + port)
	if err != nil {
		t.Fatalf("Dial allowlisted: %v", err)
	}
	c.Close()
}
