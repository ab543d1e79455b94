package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/wagate/wagate/sdk/goplugin"
)

// Config is the router's configuration (the binding's JSON object).
type Config struct {
	// Routes maps a calling-code prefix of the recipient's number ("49", "1", "44",
	// or longer: "1212") to the session that sends to it. The longest matching prefix
	// wins.
	Routes map[string]string `json:"routes"`
}

// Router routes by the recipient's country calling code. A message to a group, to a
// number no prefix matches, or whose session is not among the candidates (stopped,
// banned) gets no opinion: the next policy or the gateway's default decides.
type Router struct {
	prefixes []prefix // longest first
}

type prefix struct{ digits, session string }

// Configure reads a Config: every prefix must be digits, every session non-empty.
func (r *Router) Configure(_ context.Context, raw json.RawMessage) error {
	var c Config
	if err := goplugin.DecodeConfig(raw, &c); err != nil {
		return err
	}
	var ps []prefix
	for digits, session := range c.Routes {
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			return fmt.Errorf("%w: routes: %q is not a calling-code prefix (digits)", goplugin.ErrBadConfig, digits)
		}
		if session == "" {
			return fmt.Errorf("%w: routes: prefix %s has no session", goplugin.ErrBadConfig, digits)
		}
		ps = append(ps, prefix{digits, session})
	}
	sort.Slice(ps, func(i, j int) bool {
		if len(ps[i].digits) != len(ps[j].digits) {
			return len(ps[i].digits) > len(ps[j].digits)
		}
		return ps[i].digits < ps[j].digits
	})
	r.prefixes = ps
	return nil
}

// Route picks the session of the longest prefix of the recipient's number.
func (r *Router) Route(_ context.Context, in goplugin.RouteInput) (goplugin.RouteDecision, error) {
	number, ok := phoneNumber(in.Message.ChatID)
	if !ok {
		return goplugin.RouteDecision{}, nil
	}
	for _, p := range r.prefixes {
		if !strings.HasPrefix(number, p.digits) {
			continue
		}
		for _, c := range in.Candidates {
			if c.Session == p.session {
				return goplugin.RouteDecision{Session: c.Session}, nil
			}
		}
		return goplugin.RouteDecision{}, nil // the country's session cannot send now
	}
	return goplugin.RouteDecision{}, nil
}

// phoneNumber returns the digits of a personal chat id ("15551230000@c.us",
// "15551230000@s.whatsapp.net", "+1 555 123 0000"); false for groups and other ids.
func phoneNumber(chatID string) (string, bool) {
	user, server, _ := strings.Cut(chatID, "@")
	if server != "" && server != "c.us" && server != "s.whatsapp.net" {
		return "", false
	}
	var b strings.Builder
	for _, c := range user {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' || c == ' ' || c == '-':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() > 0
}

var (
	_ goplugin.Plugin    = (*Router)(nil)
	_ goplugin.RouteHook = (*Router)(nil)
)
