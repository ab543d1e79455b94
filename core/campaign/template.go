package campaign

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Variables of a campaign message: {{name}}, {{chatId}}, {{phone}} and
// {{attrs.<column>}}, each with an optional default after '|' ({{attrs.city|Jakarta}}).
// Spaces inside the braces are ignored; the default is taken as written (trimmed).
// A "{{" without its "}}" is text.

// variable is one {{...}} of a template.
type variable struct {
	// name is "name", "chatId", "phone" or "attrs.<column>".
	name string
	// def is the default; hasDef tells "" from none.
	def    string
	hasDef bool
}

// part is a piece of a template: text, or a variable.
type part struct {
	text string
	v    *variable
}

// template is a parsed text.
type template []part

// parseTemplate splits s into text and variables. It does not judge the variables
// (check does, against a list's columns).
func parseTemplate(s string) template {
	var t template
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			break
		}
		if i > 0 {
			t = append(t, part{text: s[:i]})
		}
		inner := s[i+2 : i+2+j]
		v := &variable{}
		name, def, has := strings.Cut(inner, "|")
		v.name, v.def, v.hasDef = strings.TrimSpace(name), strings.TrimSpace(def), has
		t = append(t, part{v: v})
		s = s[i+2+j+2:]
	}
	if s != "" {
		t = append(t, part{text: s})
	}
	return t
}

// check refuses a variable that is not one of the known ones, or a column the list
// has not got and no default stands in for.
func (t template) check(columns []string) error {
	for _, p := range t {
		if p.v == nil {
			continue
		}
		switch name := p.v.name; {
		case name == "name", name == "chatId", name == "phone":
		case strings.HasPrefix(name, "attrs.") && len(name) > len("attrs."):
			if !p.v.hasDef && !slices.Contains(columns, strings.TrimPrefix(name, "attrs.")) {
				return fmt.Errorf("%w: {{%s}}: the list has no column %q (give a default: {{%s|...}})",
					ErrUnknownVariable, name, strings.TrimPrefix(name, "attrs."), name)
			}
		default:
			return fmt.Errorf("%w: {{%s}}: use name, chatId, phone or attrs.<column>", ErrUnknownVariable, name)
		}
	}
	return nil
}

// render fills the variables with c's values; an empty value takes the default.
// escape, when set, is applied to each value (JSON string escaping inside a
// template's components).
func (t template) render(c Contact, escape func(string) string) string {
	var b strings.Builder
	for _, p := range t {
		if p.v == nil {
			b.WriteString(p.text)
			continue
		}
		var v string
		switch name := p.v.name; {
		case name == "name":
			v = c.Name
		case name == "chatId":
			v = c.ChatID.String()
		case name == "phone":
			v = c.ChatID.Local
		default:
			v = c.Attrs[strings.TrimPrefix(name, "attrs.")]
		}
		if v == "" {
			v = p.v.def
		}
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// jsonEscape escapes s for the inside of a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
