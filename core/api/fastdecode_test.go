package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/valyala/fasthttp"
)

var fastSendTextBodies = []struct {
	body string
	fast bool // whether the scanner takes it (false: encoding/json decides)
}{
	{`{"session":"main","chatId":"15551234567","text":"hello"}`, true},
	{" \n{ \"chatId\" : \"1555\" ,\t\"text\":\"x\" } \n", true},
	{`{"chatId":"1555","text":"line\nbreak \"quoted\" \u00e9 \ud83d\ude00 \/"}`, true},
	{`{"chatId":"1555","text":"ünïcödé ✓ 😀"}`, true},
	{`{"chatId":"1555","text":"x","mentions":["1555","1666@c.us"],"linkPreview":true,"linkPreviewHighQuality":false}`, true},
	{`{"chatId":"1555","text":"x","mentions":[]}`, true},
	{`{"chatId":"a","chatId":"b","text":"x"}`, true},
	{`{"chatId":"1555","text":"x","reply_to":"ABC"}`, true},
	{`{}`, true},
	{`{"ChatId":"1555","text":"x"}`, false},           // other case: encoding/json matches it
	{`{"chatId":"1555","text":"x","extra":1}`, false}, // unknown field
	{`{"chatId":null,"text":"x"}`, false},
	{`{"chatId":1555,"text":"x"}`, false},
	{`{"chatId":"1555","text":"x"} {}`, false},
	{`{"chatId":"1555","text":"x"`, false},
	{`{"chatId":"1555","text":"x",}`, false},
	{"{\"chatId\":\"1555\",\"text\":\"bad \xff utf8\"}", false},
	{"{\"chatId\":\"1555\",\"text\":\"raw \x01 control\"}", false},
	{`{"chatId":"1555","text":"bad \q escape"}`, false},
	{`{"chat\u0049d":"1555","text":"x"}`, false},
	{`{"chatId":"1555","mentions":"1666","text":"x"}`, false},
	{`{"chatId":"1555","linkPreview":"yes","text":"x"}`, false},
	{`{"chatId":"1555","text":"x\`, false},
	{`null`, false},
	{`[]`, false},
	{``, false},
}

// TestFastSendTextMatchesEncodingJSON: every body the scanner takes decodes to what
// strict encoding/json gives; bodies it leaves are left whole to encoding/json.
func TestFastSendTextMatchesEncodingJSON(t *testing.T) {
	for _, c := range fastSendTextBodies {
		var got sendTextBody
		ok := fastSendText([]byte(c.body), &got)
		if ok != c.fast {
			t.Errorf("%q: scanner took it %v, want %v", c.body, ok, c.fast)
		}
		if ok {
			checkSameAsJSON(t, c.body, got)
		}
	}
}

func checkSameAsJSON[T any](t *testing.T, body string, got T) {
	t.Helper()
	var want T
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&want); err != nil {
		t.Errorf("%q: the scanner took a body encoding/json refuses: %v", body, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q:\nscanner       %+v\nencoding/json %+v", body, got, want)
	}
}

func TestFastBatchMatchesEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		body string
		fast bool
	}{
		{`{"messages":[{"session":"s1","chatId":"1555","text":"a"},{"chatId":"1666","text":"b\n","reply_to":"R","idempotencyKey":"k"}]}`, true},
		{`{"messages":[]}`, true},
		{`{}`, true},
		{` { "messages" : [ { } ] } `, true},
		{`{"messages":[{"chatId":"1555","text":"a"}],"more":true}`, false},
		{`{"messages":[{"chatId":"1555","text":"a","x":1}]}`, false},
		{`{"messages":null}`, false},
		{`{"messages":[{"chatId":"1555","text":"a"},]}`, false},
		{`{"messages":[{"chatId":"1555","text":"a"}]`, false},
	} {
		var got batchBody
		ok := fastBatch([]byte(c.body), &got)
		if ok != c.fast {
			t.Errorf("%q: scanner took it %v, want %v", c.body, ok, c.fast)
		}
		if ok {
			checkSameAsJSON(t, c.body, got)
		}
	}
}

// FuzzFastSendText: whatever the scanner accepts, encoding/json accepts and decodes
// the same.
func FuzzFastSendText(f *testing.F) {
	for _, c := range fastSendTextBodies {
		f.Add(c.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got sendTextBody
		if fastSendText([]byte(body), &got) {
			checkSameAsJSON(t, body, got)
		}
	})
}

// TestWriteSendAnswer: the hand-written answer is byte for byte writeJSON's.
func TestWriteSendAnswer(t *testing.T) {
	for _, a := range []sendAnswer{
		{ID: "msg_01JX", Status: "queued", Session: "main", ChatID: "15551234567@c.us"},
		{ID: "msg_01JX", Status: "queued", Session: "ünï", ChatID: "1@c.us"},
		{ID: "a<b>&\"\\", Status: "queued", Session: "", ChatID: "x\ny"},
	} {
		var want, got fasthttp.RequestCtx
		if err := writeJSON(&want, http.StatusAccepted, a); err != nil {
			t.Fatal(err)
		}
		if err := writeSendAnswer(&got, a); err != nil {
			t.Fatal(err)
		}
		if string(got.Response.Body()) != string(want.Response.Body()) || got.Response.StatusCode() != 202 ||
			string(got.Response.Header.ContentType()) != string(want.Response.Header.ContentType()) {
			t.Errorf("%+v:\n got %d %q %q\nwant %d %q %q", a, got.Response.StatusCode(), got.Response.Header.ContentType(), got.Response.Body(),
				want.Response.StatusCode(), want.Response.Header.ContentType(), want.Response.Body())
		}
	}
}
