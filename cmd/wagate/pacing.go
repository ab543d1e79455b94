package main

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/steer"
	"github.com/wagate/wagate/plugins/antiban"
)

// pacingRule is the anti-ban configuration (plugins/antiban) of the pacing section:
// the default rate rule of every tenant's chain.
func pacingRule(p config.Pacing) json.RawMessage {
	c := antiban.Config{
		Providers: config.List(p.Providers), MinGap: policy.Duration(p.MinGap), Jitter: policy.Duration(p.Jitter),
		PerMinute: p.PerMinute, PerHour: p.PerHour, PerDay: p.PerDay, OverDaily: p.OverDaily,
		Warmup:         antiban.Warmup{Days: p.Warmup.Days, FirstDay: p.Warmup.FirstDay, Growth: p.Warmup.Growth},
		ContactPerHour: p.ContactPerHour, OverContact: p.OverContact, FirstContactsPerDay: p.FirstContactsPerDay,
		OverFirstContacts: p.OverFirstContacts, ReachoutPause: p.ReachoutPause, PauseRecheck: policy.Duration(p.PauseRecheck),
		Typing: antiban.Typing{Enabled: p.Typing.Enabled, CharsPerSecond: p.Typing.CharsPerSecond,
			Min: policy.Duration(p.Typing.Min), Max: policy.Duration(p.Typing.Max), Jitter: p.Typing.Jitter},
	}
	if c.Providers == nil {
		c.Providers = []string{} // every provider, not the rule's default list
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain values: cannot fail
	}
	return b
}

// pacingTyping is how long steer shows the typing indicator before a send (nil: never):
// the pacing section's typing settings, with a random jitter per message, on sessions
// of the paced providers.
func pacingTyping(p config.Pacing) steer.Typing {
	if !p.Enabled || !p.Typing.Enabled {
		return nil
	}
	t := antiban.Typing{Enabled: true, CharsPerSecond: p.Typing.CharsPerSecond, Min: policy.Duration(p.Typing.Min),
		Max: policy.Duration(p.Typing.Max), Jitter: p.Typing.Jitter}
	paced := config.List(p.Providers)
	return func(kind string, msg provider.Outbound) time.Duration {
		if len(paced) > 0 && !slices.Contains(paced, kind) {
			return 0
		}
		return t.Duration(msg, rand.Float64())
	}
}
