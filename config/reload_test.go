package config

import (
	"slices"
	"testing"
)

func TestRestartRequired(t *testing.T) {
	load := func() *Config {
		t.Helper()
		cfg, err := Load(examplePath)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"hot keys only", func(c *Config) {
			c.Log.Level = "debug"
			c.Admin.Password = "new"
			c.Servers[0].Address = "10.0.0.9"
			c.Monitors[0].MonitorInterval *= 2
			c.Services[0].TransactionReplay = false
			c.Listeners[0].Service = "ro-service"
		}, nil},
		{"restart keys", func(c *Config) {
			c.Log.Format = "json"
			c.Metrics.Listen = "127.0.0.1:9999"
			c.Services[1].Router = ReadWriteSplit
			c.Listeners[1].Port = 5008
		}, []string{"log.format", "metrics.listen", `service "ro-service".router`, `listener "ro-listener".port`}},
		{"objects added and removed", func(c *Config) {
			c.Servers = append(c.Servers, Server{Name: "node4"})
			c.Monitors[0].Servers = append(c.Monitors[0].Servers, "node4")
			c.Services = c.Services[:1]
			c.Listeners[1].Name = "renamed"
		}, []string{`listener "renamed"`, `listener "ro-listener"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, next := load(), load()
			tc.change(next)
			if got := RestartRequired(old, next); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
