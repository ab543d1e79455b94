package session

import (
	"errors"
	"strings"
	"testing"
)

// Each status maps to WAHA's WAMessageAck number and name.
func TestWAHAAck(t *testing.T) {
	for _, tc := range []struct {
		status string
		n      int
		name   string
	}{
		{"queued", 0, "PENDING"},
		{"sending", 0, "PENDING"},
		{"sent", 1, "SERVER"},
		{"delivered", 2, "DEVICE"},
		{"read", 3, "READ"},
		{"played", 4, "PLAYED"},
		{"failed", -1, "ERROR"},
		{"something-new", 0, "PENDING"},
	} {
		p := NewAckPayload("msg_1", "p1", "1555@c.us", tc.status, "")
		if p.Ack != tc.n || p.AckName != tc.name || p.Status != tc.status {
			t.Errorf("%s: ack %d %s status %s; want %d %s", tc.status, p.Ack, p.AckName, p.Status, tc.n, tc.name)
		}
	}
}

func TestCheckMetadata(t *testing.T) {
	big := map[string]string{}
	for i := range 9 {
		big[string(rune('a'+i))] = strings.Repeat("x", 500)
	}
	many := map[string]string{}
	for i := range MaxMetadataKeys + 1 {
		many[strings.Repeat("k", i+1)] = ""
	}
	for _, tc := range []struct {
		name string
		md   map[string]string
		want error
	}{
		{"nil", nil, nil},
		{"empty", map[string]string{}, nil},
		{"WAHA's example", map[string]string{"user.id": "123", "user.email": "email@example.com"}, nil},
		{"empty value", map[string]string{"k": ""}, nil},
		{"at the bounds", map[string]string{strings.Repeat("k", MaxMetadataKey): strings.Repeat("v", MaxMetadataValue)}, nil},
		{"empty key", map[string]string{"": "v"}, ErrInvalidMetadata},
		{"tab in key", map[string]string{"a\tb": "v"}, ErrInvalidMetadata},
		{"bad UTF-8 value", map[string]string{"k": "\xff"}, ErrInvalidMetadata},
		{"too many keys", many, ErrMetadataTooLarge},
		{"long key", map[string]string{strings.Repeat("k", MaxMetadataKey+1): ""}, ErrMetadataTooLarge},
		{"long value", map[string]string{"k": strings.Repeat("v", MaxMetadataValue+1)}, ErrMetadataTooLarge},
		{"too large in all", big, ErrMetadataTooLarge},
	} {
		err := CheckMetadata(tc.md)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
}
