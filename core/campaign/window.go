package campaign

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Window is when a campaign queues messages: hours of day and days of week in a time
// zone. Outside it a running campaign waits.
type Window struct {
	// From and To are "HH:MM" (24 hours), From before To: the window is
	// [From, To) each allowed day. Both empty: all day.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Timezone is an IANA zone ("Asia/Jakarta"); "" is UTC.
	Timezone string `json:"timezone,omitempty"`
	// Days are the allowed days, "mon" to "sun"; none: every day.
	Days []string `json:"days,omitempty"`
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} // time.Weekday order

// compiled is a checked window.
type compiled struct {
	loc      *time.Location
	from, to int // minutes of the day
	days     [7]bool
}

// compile checks w.
func (w Window) compile() (compiled, error) {
	c := compiled{loc: time.UTC, from: 0, to: 24 * 60}
	if w.Timezone != "" {
		loc, err := time.LoadLocation(w.Timezone)
		if err != nil || strings.Contains(w.Timezone, "..") {
			return c, fmt.Errorf("%w: window.timezone %q is not an IANA time zone", ErrInvalid, w.Timezone)
		}
		c.loc = loc
	}
	if (w.From == "") != (w.To == "") {
		return c, fmt.Errorf("%w: window needs both from and to, or neither", ErrInvalid)
	}
	if w.From != "" {
		var err error
		if c.from, err = minutes(w.From); err != nil {
			return c, err
		}
		if c.to, err = minutes(w.To); err != nil {
			return c, err
		}
		if c.from >= c.to {
			return c, fmt.Errorf("%w: window.from must be before window.to", ErrInvalid)
		}
	}
	if len(w.Days) == 0 {
		c.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range w.Days {
		i := slices.Index(dayNames, strings.ToLower(d))
		if i < 0 {
			return c, fmt.Errorf("%w: window.days: %q is not one of mon, tue, wed, thu, fri, sat, sun", ErrInvalid, d)
		}
		c.days[i] = true
	}
	return c, nil
}

func minutes(hhmm string) (int, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		if hhmm == "24:00" {
			return 24 * 60, nil
		}
		return 0, fmt.Errorf("%w: window time %q is not HH:MM", ErrInvalid, hhmm)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// next returns now when the window is open at now, else when it next opens.
func (c compiled) next(now time.Time) time.Time {
	local := now.In(c.loc)
	for day := range 8 {
		d := local.AddDate(0, 0, day)
		if !c.days[d.Weekday()] {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, c.loc)
		open := start.Add(time.Duration(c.from) * time.Minute)
		closeAt := start.Add(time.Duration(c.to) * time.Minute)
		if day == 0 && !local.Before(open) && local.Before(closeAt) {
			return now
		}
		if open.After(now) {
			return open
		}
	}
	return now.Add(24 * time.Hour) // no allowed day: cannot happen after compile
}
