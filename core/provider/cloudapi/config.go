package cloudapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultThroughput is the messages per second a Cloud API number may send unless its
// SessionConfig says otherwise: Meta's default for every number. Meta raises eligible
// numbers to 1,000 on its own; set Throughput then.
const DefaultThroughput = 80

// MaxThroughput is the highest Throughput accepted, Meta's highest tier.
const MaxThroughput = 1000

// SessionConfig is the provider config of a cloudapi session (provider.Spec.Config), as
// POST /api/sessions takes it in "config":
//
//	{"phoneNumberId": "106540352242922", "accessToken": "EAAG...",
//	 "appSecret": "0f1e...", "verifyToken": "a-long-random-string", "throughput": 80}
//
// docs/cloudapi.md says where in Meta's App Dashboard and WhatsApp Manager each value
// is found.
type SessionConfig struct {
	// PhoneNumberID is the Graph API id of the business number (WhatsApp Manager >
	// API Setup: "Phone number ID"), not the phone number. Required, digits.
	PhoneNumberID string `json:"phoneNumberId"`
	// AccessToken is the bearer token of every Graph API call: a System User's
	// permanent token with whatsapp_business_messaging (and _management). Required.
	AccessToken string `json:"accessToken"`
	// AppSecret is the Meta app's secret (App settings > Basic), the key of the
	// X-Hub-Signature-256 of every webhook delivery. Required.
	AppSecret string `json:"appSecret"`
	// VerifyToken is the string you type as "Verify token" when you subscribe the
	// webhook; Meta's GET challenge must present it. Required, at most 256 bytes.
	VerifyToken string `json:"verifyToken"`
	// APIVersion overrides providers.cloudapi.api_version ("v23.0"). Optional.
	APIVersion string `json:"apiVersion,omitempty"`
	// BaseURL overrides providers.cloudapi.base_url (scheme and host, no path).
	// Optional; tests point it at a fake Graph API.
	BaseURL string `json:"baseUrl,omitempty"`
	// Throughput is the number's send limit in messages per second, enforced before
	// every send (and mark-as-read): DefaultThroughput (80) when 0, at most
	// MaxThroughput (1000).
	Throughput int `json:"throughput,omitempty"`
}

var (
	digits       = regexp.MustCompile(`^[0-9]{1,32}$`)
	graphVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)
)

// ParseConfig decodes and checks a session's provider config: no unknown fields, every
// required field set, each in its format. Defaults are not applied. An error wraps
// ErrInvalidConfig and names the field.
func ParseConfig(raw json.RawMessage) (SessionConfig, error) {
	var sc SessionConfig
	c := bytes.TrimSpace(raw)
	if len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return sc, fmt.Errorf("%w: phoneNumberId, accessToken, appSecret and verifyToken are required (docs/cloudapi.md)", ErrInvalidConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(c))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if dec.More() {
		return sc, fmt.Errorf("%w: trailing data after the config object", ErrInvalidConfig)
	}
	if err := sc.check(); err != nil {
		return sc, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return sc, nil
}

func (sc SessionConfig) check() error {
	switch {
	case sc.PhoneNumberID == "":
		return fmt.Errorf("phoneNumberId is required: the \"Phone number ID\" of WhatsApp Manager > API Setup")
	case !digits.MatchString(sc.PhoneNumberID):
		return fmt.Errorf("phoneNumberId %q must be the digits of the Phone number ID (not the phone number itself)", sc.PhoneNumberID)
	case sc.AccessToken == "":
		return fmt.Errorf("accessToken is required: a System User's permanent token with whatsapp_business_messaging")
	case strings.ContainsAny(sc.AccessToken, " \t\r\n"):
		return fmt.Errorf("accessToken must not contain spaces or line breaks (paste the token alone, without \"Bearer\")")
	case sc.AppSecret == "":
		return fmt.Errorf("appSecret is required: the App secret of App settings > Basic, which signs Meta's webhooks")
	case sc.VerifyToken == "":
		return fmt.Errorf("verifyToken is required: the Verify token you enter when subscribing the webhook")
	case len(sc.VerifyToken) > 256:
		return fmt.Errorf("verifyToken is longer than 256 bytes")
	case sc.APIVersion != "" && !graphVersion.MatchString(sc.APIVersion):
		return fmt.Errorf("apiVersion %q is not a Graph API version; write it like v23.0", sc.APIVersion)
	case sc.Throughput < 0 || sc.Throughput > MaxThroughput:
		return fmt.Errorf("throughput %d must be from 1 to %d messages per second (0 means %d)", sc.Throughput, MaxThroughput, DefaultThroughput)
	}
	if sc.BaseURL != "" {
		if err := checkOrigin(sc.BaseURL); err != nil {
			return fmt.Errorf("baseUrl: %v", err)
		}
	}
	return nil
}

// checkOrigin accepts an absolute http(s) URL with a host and no path beyond "/".
func checkOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) origin; write it like https://graph.facebook.com", s)
	}
	return nil
}
