package lua

// Lua 5.1 patterns (string.find, match, gmatch, gsub), ported from the reference
// implementation (lstrlib.c, MIT licence, Copyright (C) 1994-2012 Lua.org, PUC-Rio) to
// replace gopher-lua's, for three reasons: its matcher recurses once per character
// consumed (".*" on a 1 MiB text is a million Go frames), gmatch and gsub collect every
// match before returning (memory in proportion to the text), and gsub rebuilds its output
// for every replacement (quadratic). Here quantifiers loop as in the reference, gmatch
// finds one match per step, gsub appends to one buffer under the string budget, and the
// matcher checks the call's deadline every few thousand steps, so that no pattern can run
// past the call's budget.

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

const (
	patEsc         = '%'
	patSpecials    = "^$*+?.([%-"
	maxCaptures    = 32
	maxMatchDepth  = 200 // Lua 5.2's MAXCCALLS: "pattern too complex"
	capUnfinished  = -1
	capPosition    = -2
	stepsPerCheck  = 1 << 12
	errPatternBase = "malformed pattern"
)

type capture struct{ init, len int }

// matcher is one match attempt's state (MatchState).
type matcher struct {
	st      *state
	src     string
	pat     string
	level   int
	depth   int
	steps   int
	capture [maxCaptures]capture
}

func (m *matcher) fail(msg string) { m.st.L.RaiseError("%s", msg) }

// step counts work and checks the call's deadline every stepsPerCheck steps.
func (m *matcher) step() {
	m.steps++
	if m.steps%stepsPerCheck == 0 {
		m.st.checkDeadline()
	}
}

// at returns the pattern byte at p, 0 past the end (C strings end with NUL).
func (m *matcher) at(p int) byte {
	if p < len(m.pat) {
		return m.pat[p]
	}
	return 0
}

func (m *matcher) checkCapture(l byte) int {
	i := int(l) - '1'
	if i < 0 || i >= m.level || m.capture[i].len == capUnfinished {
		m.fail("invalid capture index")
	}
	return i
}

func (m *matcher) captureToClose() int {
	for l := m.level - 1; l >= 0; l-- {
		if m.capture[l].len == capUnfinished {
			return l
		}
	}
	m.fail("invalid pattern capture")
	return 0
}

func (m *matcher) classEnd(p int) int {
	c := m.at(p)
	p++
	switch c {
	case patEsc:
		if p >= len(m.pat) {
			m.fail(errPatternBase + " (ends with '%')")
		}
		return p + 1
	case '[':
		if m.at(p) == '^' {
			p++
		}
		for { // look for a ']'
			if p >= len(m.pat) {
				m.fail(errPatternBase + " (missing ']')")
			}
			c := m.pat[p]
			p++
			if c == patEsc && p < len(m.pat) {
				p++ // skip escapes (e.g. '%]')
			}
			if m.at(p) == ']' {
				break
			}
		}
		return p + 1
	}
	return p
}

func isalpha(c byte) bool  { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isdigit(c byte) bool  { return c >= '0' && c <= '9' }
func islower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isupper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isspace(c byte) bool  { return c == ' ' || c >= '\t' && c <= '\r' }
func iscntrl(c byte) bool  { return c < 32 || c == 127 }
func ispunct(c byte) bool  { return c > 32 && c < 127 && !isalpha(c) && !isdigit(c) }
func isxdigit(c byte) bool { return isdigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func matchClass(c, cl byte) bool {
	var res bool
	lower := cl | 0x20
	switch lower {
	case 'a':
		res = isalpha(c)
	case 'c':
		res = iscntrl(c)
	case 'd':
		res = isdigit(c)
	case 'l':
		res = islower(c)
	case 'p':
		res = ispunct(c)
	case 's':
		res = isspace(c)
	case 'u':
		res = isupper(c)
	case 'w':
		res = isalpha(c) || isdigit(c)
	case 'x':
		res = isxdigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if islower(cl) {
		return res
	}
	return !res
}

// matchBracketClass matches c against the set [p, ec] (p at '[', ec at ']').
func (m *matcher) matchBracketClass(c byte, p, ec int) bool {
	sig := true
	if m.at(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		if m.pat[p] == patEsc {
			p++
			if matchClass(c, m.at(p)) {
				return sig
			}
		} else if m.at(p+1) == '-' && p+2 < ec {
			p += 2
			if m.pat[p-2] <= c && c <= m.pat[p] {
				return sig
			}
		} else if m.pat[p] == c {
			return sig
		}
	}
	return !sig
}

func (m *matcher) singleMatch(s, p, ep int) bool {
	if s >= len(m.src) {
		return false
	}
	c := m.src[s]
	switch m.pat[p] {
	case '.':
		return true
	case patEsc:
		return matchClass(c, m.at(p+1))
	case '[':
		return m.matchBracketClass(c, p, ep-1)
	}
	return m.pat[p] == c
}

func (m *matcher) matchBalance(s, p int) int {
	if p+1 >= len(m.pat) {
		m.fail("unbalanced pattern")
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	b, e, cont := m.pat[p], m.pat[p+1], 1
	for s++; s < len(m.src); s++ {
		m.step()
		if m.src[s] == e {
			if cont--; cont == 0 {
				return s + 1
			}
		} else if m.src[s] == b {
			cont++
		}
	}
	return -1
}

func (m *matcher) maxExpand(s, p, ep int) int {
	i := 0
	for m.singleMatch(s+i, p, ep) {
		m.step()
		i++
	}
	for ; i >= 0; i-- { // try with the maximum repetitions, then fewer
		m.step()
		if res := m.match(s+i, ep+1); res >= 0 {
			return res
		}
	}
	return -1
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		m.step()
		if res := m.match(s, ep+1); res >= 0 {
			return res
		}
		if !m.singleMatch(s, p, ep) {
			return -1
		}
		s++
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	if m.level >= maxCaptures {
		m.fail("too many captures")
	}
	m.capture[m.level] = capture{init: s, len: what}
	m.level++
	res := m.match(s, p)
	if res < 0 {
		m.level--
	}
	return res
}

func (m *matcher) endCapture(s, p int) int {
	l := m.captureToClose()
	m.capture[l].len = s - m.capture[l].init
	res := m.match(s, p)
	if res < 0 {
		m.capture[l].len = capUnfinished
	}
	return res
}

func (m *matcher) matchCapture(s int, l byte) int {
	i := m.checkCapture(l)
	c := m.capture[i]
	if len(m.src)-s >= c.len && m.src[c.init:c.init+c.len] == m.src[s:s+c.len] {
		return s + c.len
	}
	return -1
}

// match matches the pattern from p against the subject from s; it returns the end of
// the match, or -1.
func (m *matcher) match(s, p int) int {
	m.depth++
	defer func() { m.depth-- }()
	if m.depth > maxMatchDepth {
		m.fail("pattern too complex")
	}
	for {
		m.step()
		if p >= len(m.pat) {
			return s
		}
		switch m.pat[p] {
		case '(':
			if m.at(p+1) == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(m.pat) {
				if s == len(m.src) {
					return s
				}
				return -1
			}
		case patEsc:
			switch c := m.at(p + 1); {
			case c == 'b':
				if s = m.matchBalance(s, p+2); s < 0 {
					return -1
				}
				p += 4
				continue
			case c == 'f':
				p += 2
				if m.at(p) != '[' {
					m.fail("missing '[' after '%f' in pattern")
				}
				ep := m.classEnd(p)
				var prev, cur byte
				if s > 0 {
					prev = m.src[s-1]
				}
				if s < len(m.src) {
					cur = m.src[s]
				}
				if m.matchBracketClass(prev, p, ep-1) || !m.matchBracketClass(cur, p, ep-1) {
					return -1
				}
				p = ep
				continue
			case isdigit(c):
				if s = m.matchCapture(s, c); s < 0 {
					return -1
				}
				p += 2
				continue
			}
		}
		// default: a single char class, maybe with a quantifier
		ep := m.classEnd(p)
		ok := m.singleMatch(s, p, ep)
		switch m.at(ep) {
		case '?':
			if ok {
				if res := m.match(s+1, ep+1); res >= 0 {
					return res
				}
			}
			p = ep + 1
			continue
		case '*':
			return m.maxExpand(s, p, ep)
		case '+':
			if !ok {
				return -1
			}
			return m.maxExpand(s+1, p, ep)
		case '-':
			return m.minExpand(s, p, ep)
		}
		if !ok {
			return -1
		}
		s++
		p = ep
	}
}

// pushCapture pushes capture i of the match [s, e).
func (m *matcher) pushCapture(i, s, e int) {
	L := m.st.L
	if i >= m.level {
		if i != 0 {
			m.fail("invalid capture index")
		}
		L.Push(lua.LString(m.src[s:e])) // whole match
		return
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		m.fail("unfinished capture")
	case capPosition:
		L.Push(lua.LNumber(c.init + 1))
	default:
		L.Push(lua.LString(m.src[c.init : c.init+c.len]))
	}
}

// pushCaptures pushes the captures (or the whole match when there is none and s >= 0).
func (m *matcher) pushCaptures(s, e int) int {
	n := m.level
	if n == 0 && s >= 0 {
		n = 1
	}
	for i := 0; i < n; i++ {
		m.pushCapture(i, s, e)
	}
	return n
}

// posrelat turns a Lua string position (negative from the end) into a 0-based one.
func posrelat(pos, n int) int {
	if pos < 0 {
		pos += n + 1
	}
	return max(pos, 0)
}

// strFindAux is string.find (find) and string.match (!find).
func (st *state) strFindAux(find bool) lua.LGFunction {
	return func(L *lua.LState) int {
		s, p := L.CheckString(1), L.CheckString(2)
		init := posrelat(L.OptInt(3, 1), len(s)) - 1
		if init < 0 {
			init = 0
		} else if init > len(s) {
			init = len(s)
		}
		if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(p, patSpecials)) {
			if i := strings.Index(s[init:], p); i >= 0 {
				L.Push(lua.LNumber(init + i + 1))
				L.Push(lua.LNumber(init + i + len(p)))
				return 2
			}
			L.Push(lua.LNil)
			return 1
		}
		m := &matcher{st: st, src: s, pat: p}
		anchor := strings.HasPrefix(p, "^")
		if anchor {
			m.pat = p[1:]
		}
		for s1 := init; ; s1++ {
			m.level = 0
			if e := m.match(s1, 0); e >= 0 {
				if find {
					L.Push(lua.LNumber(s1 + 1))
					L.Push(lua.LNumber(e))
					return m.pushCaptures(-1, 0) + 2
				}
				return m.pushCaptures(s1, e)
			}
			if s1 >= len(s) || anchor {
				break
			}
		}
		L.Push(lua.LNil)
		return 1
	}
}

// strGmatch is string.gmatch: an iterator finding one match per call.
func (st *state) strGmatch(L *lua.LState) int {
	s, p := L.CheckString(1), L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := &matcher{st: st, src: s, pat: p}
		for src := pos; src <= len(s); src++ {
			m.level = 0
			if e := m.match(src, 0); e >= 0 {
				pos = e
				if e == src {
					pos++ // empty match: go at least one position
				}
				return m.pushCaptures(src, e)
			}
		}
		pos = len(s) + 1
		return 0
	}))
	return 1
}

// strGsub is string.gsub, building its result in one buffer charged to the call's
// string budget as it grows.
func (st *state) strGsub(L *lua.LState) int {
	src, p := L.CheckString(1), L.CheckString(2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTNumber, lua.LTString, lua.LTFunction, lua.LTTable:
	default:
		L.ArgError(3, "string/function/table expected")
	}
	maxN := L.OptInt(4, len(src)+1)
	m := &matcher{st: st, src: src, pat: p}
	anchor := strings.HasPrefix(p, "^")
	if anchor {
		m.pat = p[1:]
	}
	var b []byte
	grow := func(n int) {
		if len(b)+n > st.rt.o.MaxString {
			L.RaiseError("string.gsub: result longer than %d bytes", st.rt.o.MaxString)
		}
	}
	s, n := 0, 0
	for n < maxN {
		m.level = 0
		e := m.match(s, 0)
		if e >= 0 {
			n++
			v := st.gsubValue(m, repl, s, e)
			grow(len(v))
			b = append(b, v...)
		}
		if e >= 0 && e > s {
			s = e
		} else if s < len(src) {
			grow(1)
			b = append(b, src[s])
			s++
		} else {
			break
		}
		if anchor {
			break
		}
	}
	grow(len(src) - s)
	b = append(b, src[s:]...)
	st.charge(len(b))
	L.Push(lua.LString(b))
	L.Push(lua.LNumber(n))
	return 2
}

// gsubValue is the replacement of the match [s, e) (add_value).
func (st *state) gsubValue(m *matcher, repl lua.LValue, s, e int) string {
	L := st.L
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		news := lua.LVAsString(r)
		var b strings.Builder
		for i := 0; i < len(news); i++ {
			c := news[i]
			if c != patEsc {
				b.WriteByte(c)
				continue
			}
			i++
			switch {
			case i >= len(news):
			case !isdigit(news[i]):
				b.WriteByte(news[i])
			case news[i] == '0':
				b.WriteString(m.src[s:e])
			default:
				m.pushCapture(int(news[i]-'1'), s, e)
				b.WriteString(lua.LVAsString(L.Get(-1)))
				L.Pop(1)
			}
			if b.Len() > st.rt.o.MaxString {
				L.RaiseError("string.gsub: replacement longer than %d bytes", st.rt.o.MaxString)
			}
		}
		return b.String()
	case *lua.LFunction:
		L.Push(r)
		L.Call(m.pushCaptures(s, e), 1)
	case *lua.LTable:
		m.pushCapture(0, s, e)
		k := L.Get(-1)
		L.Pop(1)
		L.Push(L.GetTable(r, k))
	}
	v := L.Get(-1)
	L.Pop(1)
	if !lua.LVAsBool(v) {
		return m.src[s:e] // keep the original text
	}
	if v.Type() != lua.LTString && v.Type() != lua.LTNumber {
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
	return lua.LVAsString(v)
}
