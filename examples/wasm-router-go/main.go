//go:build wasip1

// wasm-router-go is a WASM route policy written with the Go SDK: it sends a message
// through a number of the recipient's country, chosen by the calling code that prefixes
// the chat id.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o router.wasm .
//
// Configuration: calling codes (digits) to the sessions that serve them, in order of
// preference; the longest matching code wins, and the first of its sessions that is a
// candidate (can send now) is chosen:
//
//	{"routes": {"49": ["de-1", "de-2"], "44": ["uk-1"], "1": ["us-1"]}}
//
// A message to a group, to a number no code matches, or whose sessions are all
// unavailable gets no opinion: the next policy of the chain, or the gateway's default,
// decides.
package main

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/wagate/wagate/sdk/wasm"
)

// config is the policy's configuration.
type config struct {
	// Routes maps calling codes (1 to 4 digits) to sessions.
	Routes map[string][]string `json:"routes"`
}

var routes map[string][]string

func configure(raw json.RawMessage) error {
	var c config
	if err := wasm.DecodeConfig(raw, &c); err != nil {
		return err
	}
	for code, sessions := range c.Routes {
		if len(code) == 0 || len(code) > 4 || strings.Trim(code, "0123456789") != "" {
			return errors.New("routes: " + code + " is not a calling code (1 to 4 digits)")
		}
		if len(sessions) == 0 {
			return errors.New("routes: " + code + " has no session")
		}
	}
	routes = c.Routes
	return nil
}

// number returns the digits of a chat id naming a person ("4915123456789@c.us",
// "+49 151 23456789", "4915123456789@s.whatsapp.net"), "" for a group or a LID.
func number(chatID string) string {
	user, server, _ := strings.Cut(chatID, "@")
	if server == "g.us" || server == "lid" || server == "newsletter" {
		return ""
	}
	var b strings.Builder
	for _, r := range user {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == ' ' || r == '-':
		default:
			return ""
		}
	}
	return b.String()
}

func route(in wasm.RouteInput) wasm.RouteDecision {
	num := number(in.Message.ChatID)
	for n := min(4, len(num)); n > 0; n-- {
		sessions, ok := routes[num[:n]]
		if !ok {
			continue
		}
		for _, s := range sessions {
			for _, c := range in.Candidates {
				if c.Session == s {
					return wasm.RouteDecision{Session: s}
				}
			}
		}
		wasm.Log(wasm.LevelDebug, "no session of +"+num[:n]+" can send "+in.Message.ID+" now")
		return wasm.RouteDecision{}
	}
	return wasm.RouteDecision{}
}

func init() { wasm.Register(wasm.Plugin{Configure: configure, Route: route}) }

func main() {}
