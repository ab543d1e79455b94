package config

import (
	"slices"
	"testing"
)

func TestValidateCloudAPI(t *testing.T) {
	bad := []struct {
		name     string
		mutate   func(*CloudAPI)
		wantPath string
	}{
		{"version empty", func(c *CloudAPI) { c.APIVersion = "" }, "providers.cloudapi.api_version"},
		{"version without v", func(c *CloudAPI) { c.APIVersion = "23.0" }, "providers.cloudapi.api_version"},
		{"version without minor", func(c *CloudAPI) { c.APIVersion = "v23" }, "providers.cloudapi.api_version"},
		{"base url empty", func(c *CloudAPI) { c.BaseURL = "" }, "providers.cloudapi.base_url"},
		{"base url relative", func(c *CloudAPI) { c.BaseURL = "graph.facebook.com" }, "providers.cloudapi.base_url"},
		{"base url ftp", func(c *CloudAPI) { c.BaseURL = "ftp://graph.facebook.com" }, "providers.cloudapi.base_url"},
		{"base url with path", func(c *CloudAPI) { c.BaseURL = "https://graph.facebook.com/v23.0" }, "providers.cloudapi.base_url"},
		{"base url with query", func(c *CloudAPI) { c.BaseURL = "https://graph.facebook.com?x=1" }, "providers.cloudapi.base_url"},
		{"base url with user", func(c *CloudAPI) { c.BaseURL = "https://u:p@graph.facebook.com" }, "providers.cloudapi.base_url"},
		{"timeout zero", func(c *CloudAPI) { c.RequestTimeout = 0 }, "providers.cloudapi.request_timeout"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Providers.CloudAPI)
			if paths := errorPaths(c.Validate()); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]", paths, tt.wantPath)
			}
		})
	}
	good := []struct {
		name   string
		mutate func(*CloudAPI)
	}{
		{"disabled", func(c *CloudAPI) { c.Enabled = false }},
		{"local fake over http", func(c *CloudAPI) { c.BaseURL = "http://127.0.0.1:8081" }},
		{"trailing slash", func(c *CloudAPI) { c.BaseURL = "https://graph.facebook.com/" }},
		{"older version", func(c *CloudAPI) { c.APIVersion = "v19.0" }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Providers.CloudAPI)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestCloudAPIFromYAMLAndEnv(t *testing.T) {
	c, err := Parse([]byte("providers:\n  cloudapi:\n    api_version: v22.0\n    request_timeout: 5s\n"),
		func(k string) (string, bool) {
			if k == "WAGATE_PROVIDERS_CLOUDAPI_BASE_URL" {
				return "http://127.0.0.1:9", true
			}
			return "", false
		})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Providers.CloudAPI
	if got.APIVersion != "v22.0" || got.RequestTimeout.D().String() != "5s" || got.BaseURL != "http://127.0.0.1:9" || !got.Enabled {
		t.Errorf("cloudapi = %+v", got)
	}
}
