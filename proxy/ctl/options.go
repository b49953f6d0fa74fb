package ctl

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/maxproxy/maxproxy/proxy/admin/client"
)

// ConfigFileName is the per-user defaults file, in the home directory.
const ConfigFileName = ".maxproxy-ctl.toml"

// Defaults of the global flags, as maxctrl's.
const (
	defaultUser     = "admin"
	defaultPassword = "mariadb"
	defaultHosts    = "127.0.0.1:8989"
)

// options are the global flags.
type options struct {
	user      string
	password  string
	hosts     string
	json      bool
	secure    bool
	tlsCA     string
	tlsCert   string
	tlsKey    string
	tlsVerify bool
	timeout   time.Duration
	config    string
}

func (o *options) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.user, "user", "u", defaultUser, "admin API user")
	fs.StringVarP(&o.password, "password", "p", defaultPassword, "admin API password")
	fs.StringVarP(&o.hosts, "hosts", "h", defaultHosts, "comma-separated admin API addresses (host:port or URL); commands run on each")
	fs.BoolVar(&o.json, "json", false, "print the API's JSON instead of tables")
	fs.BoolVarP(&o.secure, "secure", "s", false, "use HTTPS")
	fs.StringVar(&o.tlsCA, "tls-ca-cert", "", "CA certificate file that signed the API's certificate")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "client certificate file")
	fs.StringVar(&o.tlsKey, "tls-key", "", "client key file")
	fs.BoolVar(&o.tlsVerify, "tls-verify-server-cert", true, "verify the API's certificate")
	fs.DurationVar(&o.timeout, "timeout", client.DefaultTimeout, "timeout of each request")
	fs.StringVar(&o.config, "config", "", "defaults file (default ~/"+ConfigFileName+")")
}

// fileOptions is the defaults file. Absent keys leave the flag defaults.
type fileOptions struct {
	User                *string   `toml:"user"`
	Password            *string   `toml:"password"`
	Hosts               *string   `toml:"hosts"`
	Secure              *bool     `toml:"secure"`
	TLSCACert           *string   `toml:"tls_ca_cert"`
	TLSCert             *string   `toml:"tls_cert"`
	TLSKey              *string   `toml:"tls_key"`
	TLSVerifyServerCert *bool     `toml:"tls_verify_server_cert"`
	Timeout             *duration `toml:"timeout"`
}

type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("expected a duration such as \"10s\": %w", err)
	}
	*d = duration(v)
	return nil
}

// applyFile fills every flag the command line did not set from the
// defaults file: the explicit --config, else ~/.maxproxy-ctl.toml if it
// exists.
func (o *options) applyFile(flags *pflag.FlagSet, home string) error {
	path, explicit := o.config, o.config != ""
	if !explicit {
		if home == "" {
			return nil
		}
		path = filepath.Join(home, ConfigFileName)
	}
	fo, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return err
	}
	setS := func(name string, dst *string, v *string) {
		if v != nil && !flags.Changed(name) {
			*dst = *v
		}
	}
	setB := func(name string, dst *bool, v *bool) {
		if v != nil && !flags.Changed(name) {
			*dst = *v
		}
	}
	setS("user", &o.user, fo.User)
	setS("password", &o.password, fo.Password)
	setS("hosts", &o.hosts, fo.Hosts)
	setB("secure", &o.secure, fo.Secure)
	setS("tls-ca-cert", &o.tlsCA, fo.TLSCACert)
	setS("tls-cert", &o.tlsCert, fo.TLSCert)
	setS("tls-key", &o.tlsKey, fo.TLSKey)
	setB("tls-verify-server-cert", &o.tlsVerify, fo.TLSVerifyServerCert)
	if fo.Timeout != nil && !flags.Changed("timeout") {
		o.timeout = time.Duration(*fo.Timeout)
	}
	return nil
}

// readFile reads the defaults file, refusing one that others may read: it
// holds the admin password.
func readFile(path string) (*fileOptions, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("refusing to read %s: its permissions are %#o but it holds a password, so only its owner may read it (chmod 600 %s)", path, perm, path)
	}
	var fo fileOptions
	md, err := toml.NewDecoder(f).Decode(&fo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: unknown key %s (known: user, password, hosts, secure, tls_ca_cert, tls_cert, tls_key, tls_verify_server_cert, timeout)", path, strings.Join(keys, ", "))
	}
	return &fo, nil
}

// hostList splits --hosts.
func (o *options) hostList() []string {
	var out []string
	for h := range strings.SplitSeq(o.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// tlsConfig returns the HTTPS settings, nil for plain HTTP.
func (o *options) tlsConfig() (*tls.Config, error) {
	if !o.secure && o.tlsCA == "" && o.tlsCert == "" && o.tlsKey == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !o.tlsVerify}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-cert: no PEM certificate in %s", o.tlsCA)
		}
		conf.RootCAs = pool
	}
	switch {
	case o.tlsCert != "" && o.tlsKey != "":
		pair, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	case o.tlsCert != "" || o.tlsKey != "":
		return nil, usageErrorf("--tls-cert and --tls-key must be given together")
	}
	return conf, nil
}
