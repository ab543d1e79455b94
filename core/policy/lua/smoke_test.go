package lua

import (
	"context"
	"testing"

	"github.com/wagate/wagate/core/policy"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	src := `
function route(msg, cs)
  local s = "x" .. 1 .. msg.id
  if s ~= "x1m1" then error("concat: " .. s) end
  local a, b = string.find("hello world", "o w")
  if a ~= 5 or b ~= 7 then error("find") end
  local r, n = string.gsub("abc", "%w", "%0%0")
  if r ~= "aabbcc" or n ~= 3 then error("gsub " .. r) end
  local out = {}
  for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do out[#out+1] = k .. v end
  if table.concat(out, ";") ~= "a1;b2" then error("gmatch") end
  if string.match("  key = value ", "^%s*(%S+)%s*=%s*(%S+)") ~= "key" then error("match") end
  return cs[2]
end`
	p, err := policy.Open(ctx, New(Options{}), policy.Spec{Tenant: "t", Name: "s", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.(policy.RouteHook).Route(ctx, policy.RouteInput{Message: policy.Message{ID: "m1"}, Candidates: []policy.Candidate{{Session: "a"}, {Session: "b"}}})
	if err != nil || d.Session != "b" {
		t.Fatal(d, err)
	}
}
