package api

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/provider"
)

// FuzzLabelsRequests feeds arbitrary label ids and bodies to the decoding and checks of
// the label routes: every answer is success or a 4xx with a code, never a panic, and
// what is accepted is a palette colour and a name within bounds.
func FuzzLabelsRequests(f *testing.F) {
	f.Add("1", []byte(`{"name":"VIP","color":1}`))
	f.Add("12", []byte(`{"name":"VIP","colorHex":"#64C4FF"}`))
	f.Add("a/b", []byte(`{"name":"x","color":1,"colorHex":"#ff9485"}`))
	f.Add("", []byte(`{"name":"","color":-1}`))
	f.Add("x", []byte(`{"labels":[{"id":"1"},{"id":""}]}`))
	f.Add("y", []byte(`{"labels":null}`))
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)
		c.SetUserValue("labelId", id)

		got, err := labelPathID(&c)
		checkClientError(t, "label id", err)
		if err == nil && (got == "" || len(got) > maxLabelID) {
			t.Fatalf("accepted label id %q", got)
		}
		var lb labelBody
		if err := decodeJSON(&c, &lb); err == nil {
			name, color, err := lb.parse()
			checkClientError(t, "label body", err)
			if err == nil && (name == "" || color < 0 || color >= len(provider.LabelColors)) {
				t.Fatalf("accepted %q colour %d", name, color)
			}
		} else {
			checkClientError(t, "label body", err)
		}
		var cb chatLabelsBody
		if err := decodeJSON(&c, &cb); err != nil {
			checkClientError(t, "chat labels body", err)
		}
		for i, l := range cb.Labels {
			checkClientError(t, "labels["+string(rune('0'+i%10))+"]", checkLabelID(l.ID, "labels"))
		}
	})
}
