package cloudapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/provider"
)

func TestBusinessProfile(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	profilePath := "/" + DefaultAPIVersion + "/" + testPhoneNumberID + "/whatsapp_business_profile"
	r.graph.setAnswer(func(c graphCall) (int, string, bool) {
		if c.Path != profilePath {
			return 0, "", false
		}
		if c.Method == "POST" {
			return 200, `{"success":true}`, true
		}
		return 200, `{"data":[{"about":"We answer 9-5","profile_picture_url":"https://pps.whatsapp.net/acme.jpg","messaging_product":"whatsapp"}]}`, true
	})
	ctx := ctxTimeout(t, 5*time.Second)
	p, err := r.p.Profile(ctx)
	want := provider.Profile{Name: "Acme Support", About: "We answer 9-5", PictureURL: "https://pps.whatsapp.net/acme.jpg"}
	want.ID = p.ID
	if err != nil || p != want || p.ID.String() != "15550783881@c.us" {
		t.Fatalf("Profile: %+v %v, want %+v", p, err, want)
	}
	var get graphCall
	for _, c := range r.graph.snapshot() {
		if c.Path == profilePath {
			get = c
		}
	}
	if get.RawQuery != "fields=about,profile_picture_url" || get.Auth != "Bearer "+testToken {
		t.Errorf("profile request: %+v", get)
	}

	r.graph.reset()
	if err := r.p.SetAbout(ctx, "Closed today"); err != nil {
		t.Fatal(err)
	}
	calls := r.graph.snapshot()
	var body map[string]string
	if len(calls) != 1 || calls[0].Method != "POST" || json.Unmarshal(calls[0].Body, &body) != nil ||
		body["messaging_product"] != "whatsapp" || body["about"] != "Closed today" || len(body) != 2 {
		t.Fatalf("SetAbout request: %+v", calls)
	}

	for name, err := range map[string]error{
		"SetName":       r.p.SetName(ctx, "Acme"),
		"SetPicture":    r.p.SetPicture(ctx, provider.Media{URL: "https://x.example/p.jpg"}),
		"DeletePicture": r.p.DeletePicture(ctx),
	} {
		if !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}

	// Meta refusing the token is the transport failing, with Meta's message.
	r.graph.setAnswer(func(c graphCall) (int, string, bool) {
		return 401, `{"error":{"message":"Error validating access token","type":"OAuthException","code":190}}`, true
	})
	if err := r.p.SetAbout(ctx, "x"); err == nil || !strings.Contains(err.Error(), "access token") {
		t.Errorf("SetAbout with a refused token: %v", err)
	}
}
