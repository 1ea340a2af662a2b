package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateAdminAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hosts    []string
		origins  []string
		wantPath string
		wantMsg  string
	}{
		{name: "names, ports and addresses", hosts: []string{"admin.example.com", "admin.example.com:8443", "10.0.0.5", "10.0.0.5:9080", "[fd00::5]", "[fd00::5]:9080"}},
		{name: "origins", origins: []string{"https://console.example.com", "http://10.0.0.5:9080", "http://[fd00::5]:3000"}},
		{name: "host with a scheme", hosts: []string{"http://admin.example.com"}, wantPath: "admin.allowed_hosts[0]", wantMsg: "want a host name"},
		{name: "host with a path", hosts: []string{"ok.example.com", "admin.example.com/x"}, wantPath: "admin.allowed_hosts[1]", wantMsg: "want a host name"},
		{name: "wildcard host", hosts: []string{"*.example.com"}, wantPath: "admin.allowed_hosts[0]", wantMsg: "want a host name"},
		{name: "empty host", hosts: []string{""}, wantPath: "admin.allowed_hosts[0]", wantMsg: "want a host name"},
		{name: "bad port", hosts: []string{"admin.example.com:0"}, wantPath: "admin.allowed_hosts[0]", wantMsg: "port number"},
		{name: "empty port", hosts: []string{"admin.example.com:"}, wantPath: "admin.allowed_hosts[0]", wantMsg: "port number"},
		{name: "origin with an empty port", origins: []string{"https://console.example.com:"}, wantPath: "admin.allowed_origins[0]", wantMsg: "port number"},
		{name: "bare IPv6", hosts: []string{"fd00::5"}, wantPath: "admin.allowed_hosts[0]", wantMsg: "in brackets"},
		{name: "origin without scheme", origins: []string{"console.example.com"}, wantPath: "admin.allowed_origins[0]", wantMsg: "want an origin"},
		{name: "origin with a path", origins: []string{"https://console.example.com/"}, wantPath: "admin.allowed_origins[0]", wantMsg: "no path"},
		{name: "null origin", origins: []string{"null"}, wantPath: "admin.allowed_origins[0]", wantMsg: "want an origin"},
		{name: "wildcard origin", origins: []string{"*"}, wantPath: "admin.allowed_origins[0]", wantMsg: "want an origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Admin.AllowedHosts, c.Admin.AllowedOrigins = tt.hosts, tt.origins
			c.SetDefaults()
			err := c.Validate()
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Validate() = %v, want Problems", err)
			}
			for _, p := range ps {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("Validate() = %v\nwant a problem at %s containing %q", err, tt.wantPath, tt.wantMsg)
		})
	}
}

func TestDecodeAdminAllowed(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("version: 1\nadmin:\n  allowed_hosts: [admin.example.com]\n  allowed_origins: [\"https://console.example.com\"]\n"), "")
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	if got := strings.Join(c.Admin.AllowedHosts, ","); got != "admin.example.com" {
		t.Errorf("AllowedHosts = %q", got)
	}
	if got := strings.Join(c.Admin.AllowedOrigins, ","); got != "https://console.example.com" {
		t.Errorf("AllowedOrigins = %q", got)
	}
	if _, err := Parse([]byte("version: 1\nadmin:\n  allowed_host: [admin.example.com]\n"), ""); err == nil {
		t.Errorf("Parse() of a misspelt key = nil, want an error")
	}
}

func TestAdminUI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want bool
	}{
		{name: "default listener", yaml: "version: 1\n", want: true},
		{name: "loopback listener", yaml: "version: 1\nadmin: {listen: \"[::1]:9080\"}\n", want: true},
		{name: "localhost listener", yaml: "version: 1\nadmin: {listen: \"localhost:9080\"}\n", want: true},
		{name: "every interface", yaml: "version: 1\nadmin: {listen: \"0.0.0.0:9080\", token: t0ken}\n", want: false},
		{name: "every interface, turned on", yaml: "version: 1\nadmin: {listen: \"0.0.0.0:9080\", token: t0ken, ui: true}\n", want: true},
		{name: "loopback, turned off", yaml: "version: 1\nadmin: {ui: false}\n", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.yaml), "")
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if got := c.Admin.UIEnabled(); got != tt.want {
				t.Errorf("UIEnabled() = %v, want %v", got, tt.want)
			}
			if c.Admin.UI == nil || *c.Admin.UI != tt.want {
				t.Errorf("admin.ui after defaults = %v, want %v", c.Admin.UI, tt.want)
			}
		})
	}
	if _, err := Parse([]byte("version: 1\nadmin: {ui: sometimes}\n"), ""); err == nil || !strings.Contains(err.Error(), "admin.ui") {
		t.Errorf("Parse() of ui: sometimes = %v, want an error at admin.ui", err)
	}
	if got := (Admin{Listen: "10.0.0.5:9080"}).UIEnabled(); got {
		t.Errorf("UIEnabled() without defaults on 10.0.0.5 = true, want false")
	}
}

func TestValidatePortal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		portal   *Portal
		wantPath string
		wantMsg  string
	}{
		{name: "absent"},
		{name: "listen and title", portal: &Portal{Listen: "127.0.0.1:9090", Title: "Acme API"}},
		{name: "hosts, origins and a JWT provider", portal: &Portal{Listen: ":9090", AllowedHosts: []string{"portal.example.com"}, AllowedOrigins: []string{"https://portal.example.com"}, JWT: []string{"idp"}}},
		{name: "no listen", portal: &Portal{}, wantPath: "portal.listen", wantMsg: "required"},
		{name: "bad listen", portal: &Portal{Listen: "9090"}, wantPath: "portal.listen", wantMsg: "bare port"},
		{name: "the admin's address", portal: &Portal{Listen: "127.0.0.1:9080"}, wantPath: "portal.listen", wantMsg: "also admin.listen"},
		{name: "the gateway's address", portal: &Portal{Listen: ":8080"}, wantPath: "portal.listen", wantMsg: "also server.listen"},
		{name: "bad host", portal: &Portal{Listen: ":9090", AllowedHosts: []string{"http://x"}}, wantPath: "portal.allowed_hosts[0]", wantMsg: "want a host name"},
		{name: "bad origin", portal: &Portal{Listen: ":9090", AllowedOrigins: []string{"null"}}, wantPath: "portal.allowed_origins[0]", wantMsg: "want an origin"},
		{name: "unknown JWT provider", portal: &Portal{Listen: ":9090", JWT: []string{"idp", "nope"}}, wantPath: "portal.jwt[1]", wantMsg: `named "nope"`},
		{name: "long title", portal: &Portal{Listen: ":9090", Title: strings.Repeat("x", 201)}, wantPath: "portal.title", wantMsg: "at most 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Server.Listen = ":8080"
			c.Auth.JWT[0].Name = "idp"
			c.Routes[0].Auth = []string{"api_key", "jwt:idp"}
			c.Portal = tt.portal
			c.SetDefaults()
			err := c.Validate()
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if c.Portal != nil && c.Portal.Title == "" {
					t.Fatal("portal.title has no default")
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Validate() = %v, want Problems", err)
			}
			for _, p := range ps {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("Validate() = %v\nwant a problem at %s containing %q", err, tt.wantPath, tt.wantMsg)
		})
	}
}

func TestDecodePortalLines(t *testing.T) {
	t.Parallel()
	src := "portal:\n  listen: \"127.0.0.1:9090\"\n  title: Acme API\n  allowed_hosts: [\"http://bad\"]\n"
	_, err := Parse([]byte(src), "gantry.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse() = %v, want Problems", err)
	}
	for _, p := range ps {
		if p.Path == "portal.allowed_hosts[0]" && p.Line == 4 {
			return
		}
	}
	t.Errorf("Parse() = %v, want a problem at portal.allowed_hosts[0] on line 4", err)
}
