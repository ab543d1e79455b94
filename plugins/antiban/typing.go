package antiban

import (
	"time"
	"unicode/utf8"

	"github.com/wagate/wagate/core/provider"
)

// Duration is how long to show "typing..." before msg (0: not at all), given r, a
// random number in [0, 1):
//
//   - a message with text (a text, or media with a caption): its length in characters
//     at CharsPerSecond;
//   - media without caption, a location, a contact card: Min (choosing what to send);
//   - a reaction, a template, or typing not enabled: 0.
//
// The time is then varied by a factor in [1-Jitter, 1+Jitter] (from r) and kept within
// [Min, Max].
func (t Typing) Duration(msg provider.Outbound, r float64) time.Duration {
	if !t.Enabled {
		return 0
	}
	var d time.Duration
	switch msg.Kind {
	case provider.KindReaction, provider.KindTemplate:
		return 0
	}
	if n := utf8.RuneCountInString(msg.Text); n > 0 {
		d = time.Duration(float64(n) / t.CharsPerSecond * float64(time.Second))
	}
	d = time.Duration(float64(d) * (1 + t.Jitter*(2*r-1)))
	return min(max(d, time.Duration(t.Min)), time.Duration(t.Max))
}
