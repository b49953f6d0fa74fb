package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks a Config that was built or changed in code; Parse and Load
// already validate. It reports the same problems as Parse except those that
// need the file itself (unknown keys, keys on the wrong router), without
// file or line.
func (c *Config) Validate() error {
	col := &collector{}
	validate(c, col, nil, nil)
	return col.err()
}

type validator struct {
	cfg *Config
	*collector
	pos positions
	// elems maps an array section to the file index of each element; nil
	// when the elements are not from a file.
	elems map[string][]int
	secs  []section
	// kinds maps each object name to the section key of the first object
	// with that name ("server", "monitor", ...).
	kinds map[string]string
}

func validate(cfg *Config, c *collector, pos positions, elems map[string][]int) {
	v := &validator{cfg: cfg, collector: c, pos: pos, elems: elems, secs: sections(), kinds: map[string]string{}}
	v.eachTable(v.checkFields)
	v.checkNames()
	v.checkMonitors()
	v.checkServices()
	v.checkListeners()
	v.checkServers()
	v.checkAdmin()
	v.checkPorts()
}

// eachTable calls fn for every global section and array element.
func (v *validator) eachTable(fn func(site, reflect.Value)) {
	root := reflect.ValueOf(v.cfg).Elem()
	for i := range v.secs {
		sec := &v.secs[i]
		val := root.Field(sec.index)
		if !sec.many {
			fn(v.site(sec.key, -1, ""), val)
			continue
		}
		for n := 0; n < val.Len(); n++ {
			elem := val.Index(n)
			fn(v.site(sec.key, n, elem.FieldByName("Name").String()), elem)
		}
	}
}

// site returns the site of element n (-1 for a global section) of the
// section with key k.
func (v *validator) site(k string, n int, name string) site {
	i := slices.IndexFunc(v.secs, func(s section) bool { return s.key == k })
	if n >= 0 && v.elems != nil {
		n = v.elems[k][n]
	}
	return site{sec: &v.secs[i], index: n, name: name}
}

// undecoded reports whether the file gave field a value that could not be
// decoded, which makes the field look unset.
func (v *validator) undecoded(s site, field string) bool {
	return v.failed[failedKey(s.line(v.pos, field), s.key(field))]
}

func (v *validator) errorf(s site, field, format string, args ...any) {
	v.add(s.line(v.pos, field), s.key(field), format, args...)
}

// checkFields applies the rules written in the struct tags.
func (v *validator) checkFields(s site, val reflect.Value) {
	for i := range s.sec.fields {
		f := &s.sec.fields[i]
		fv := val.Field(f.index)
		switch f.kind {
		case kindString:
			str := fv.String()
			switch {
			case str == "" && (f.required || f.nonempty):
				v.errorf(s, f.key, "must not be empty")
			case f.enum != nil && !slices.Contains(f.enum, str):
				v.errorf(s, f.key, "must be %s, got %q", f.allowed(), str)
			}
		case kindList:
			list := fv.Interface().([]string)
			if len(list) == 0 && f.required {
				v.errorf(s, f.key, "must not be empty")
			}
			for j, item := range list {
				switch {
				case f.enum != nil && !slices.Contains(f.enum, item):
					v.errorf(s, f.key, "%q is not allowed: use %s", item, f.allowed())
				case slices.Contains(list[:j], item):
					v.errorf(s, f.key, "%q is listed twice", item)
				}
			}
		case kindThreads:
			if n := fv.Int(); n < 0 {
				v.errorf(s, f.key, "must be \"auto\" or at least 1, got %d", n)
			}
		case kindInt, kindDuration, kindSize:
			n := fv.Int()
			if f.off && time.Duration(n) == Off {
				continue
			}
			v.checkRange(s, f, n)
		}
	}
}

func (v *validator) checkRange(s site, f *field, n int64) {
	got := f.formatBound(n)
	switch {
	case f.hasMin && f.hasMax && (n < f.min || n > f.max):
		v.errorf(s, f.key, "must be between %s and %s, got %s", f.formatBound(f.min), f.formatBound(f.max), got)
	case f.hasMin && n < f.min && f.min == 0:
		v.errorf(s, f.key, "must not be negative, got %s", got)
	case f.hasMin && n < f.min:
		v.errorf(s, f.key, "must be at least %s, got %s", f.formatBound(f.min), got)
	case f.hasMax && n > f.max:
		v.errorf(s, f.key, "must be at most %s, got %s", f.formatBound(f.max), got)
	}
}

// objects returns every named object (servers, monitors, services,
// listeners) in file order.
func (v *validator) objects() []site {
	var objs []site
	v.eachTable(func(s site, _ reflect.Value) {
		if s.index >= 0 {
			objs = append(objs, s)
		}
	})
	slices.SortStableFunc(objs, func(a, b site) int {
		return a.line(v.pos, "") - b.line(v.pos, "")
	})
	return objs
}

const nameChars = "letters, digits and . _ - ~"

func validName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-~", r)) {
			return false
		}
	}
	return true
}

// checkNames enforces MaxScale's rule that servers, monitors, services and
// listeners share one namespace: a name picks one object, whatever its kind.
func (v *validator) checkNames() {
	seen := map[string]site{}
	for _, o := range v.objects() {
		switch {
		case o.name == "":
			continue // reported as missing or empty
		case !validName(o.name):
			v.errorf(o, "name", "%q may only contain %s", o.name, nameChars)
		}
		if first, dup := seen[o.name]; dup {
			v.errorf(o, "name", "%q is already the name of %s", o.name, first.ref(v.pos, ""))
			continue
		}
		seen[o.name] = o
		v.kinds[o.name] = o.sec.key
	}
}

// checkRef reports name unless it is an object of kind want.
func (v *validator) checkRef(s site, field, name, want string) bool {
	switch got := v.kinds[name]; got {
	case want:
		return true
	case "":
		v.errorf(s, field, "unknown %s %q", want, name)
	default:
		v.errorf(s, field, "%q is a %s, not a %s", name, got, want)
	}
	return false
}

func (v *validator) checkMonitors() {
	monitoredBy := map[string]string{}
	for i := range v.cfg.Monitors {
		m := &v.cfg.Monitors[i]
		s := v.site("monitor", i, m.Name)
		for j, srv := range m.Servers {
			if slices.Contains(m.Servers[:j], srv) || !v.checkRef(s, "servers", srv, "server") {
				continue
			}
			if other, ok := monitoredBy[srv]; ok {
				v.errorf(s, "servers", "server %q is already monitored by monitor %q", srv, other)
				continue
			}
			monitoredBy[srv] = m.Name
		}
	}
}

func (v *validator) monitored(server string) bool {
	for i := range v.cfg.Monitors {
		if slices.Contains(v.cfg.Monitors[i].Servers, server) {
			return true
		}
	}
	return false
}

func (v *validator) checkServices() {
	for i := range v.cfg.Services {
		svc := &v.cfg.Services[i]
		s := v.site("service", i, svc.Name)
		switch {
		case len(svc.Servers) > 0 && svc.Cluster != "":
			v.errorf(s, "cluster", "set either servers or cluster, not both")
		case len(svc.Servers) == 0 && svc.Cluster == "" && !v.undecoded(s, "servers") && !v.undecoded(s, "cluster"):
			v.errorf(s, "", `has no servers: set servers = ["name", ...] or cluster = "<monitor name>"`)
		case svc.Cluster != "":
			v.checkRef(s, "cluster", svc.Cluster, "monitor")
		}
		for j, srv := range svc.Servers {
			if slices.Contains(svc.Servers[:j], srv) || !v.checkRef(s, "servers", srv, "server") {
				continue
			}
			if !v.monitored(srv) {
				v.errorf(s, "servers", "server %q is in no monitor, so its state is never known and the service could never route to it", srv)
			}
		}
		switch svc.Router {
		case ReadWriteSplit:
			v.checkReadWriteSplit(s, svc)
		case ReadConnRoute:
			if len(svc.RouterOptions) == 0 {
				v.errorf(s, "router_options", "must list at least one of %s", quoteList(s.sec.fieldByKey("router_options").enum, "or"))
			}
		}
	}
}

func (v *validator) checkReadWriteSplit(s site, svc *Service) {
	if svc.TransactionReplay {
		// MaxScale forces these; an explicit contrary value is a mistake
		// worth pointing out rather than overriding.
		if !svc.DelayedRetry {
			v.errorf(s, "delayed_retry", "must be true when transaction_replay = true (replay waits for a new primary)")
		}
		if !svc.MasterReconnection {
			v.errorf(s, "master_reconnection", "must be true when transaction_replay = true (replay moves the session to the new primary)")
		}
		if svc.MasterFailureMode != "fail_on_write" {
			v.errorf(s, "master_failure_mode", `must be "fail_on_write" when transaction_replay = true, got %q`, svc.MasterFailureMode)
		}
	}
	if svc.TransactionReplayCommitCheck && !svc.TransactionReplay {
		v.errorf(s, "transaction_replay_commit_check", "needs transaction_replay = true (a COMMIT found not to have committed is replayed)")
	}
	if svc.DisableSescmdHistory && svc.MasterReconnection {
		v.errorf(s, "disable_sescmd_history", "cannot be true while master_reconnection is on (it is implied by transaction_replay): moving a session to a new primary replays its history")
	}
	if svc.CausalReads != "" && !slices.Contains(SupportedCausalReads, svc.CausalReads) &&
		slices.Contains(s.sec.fieldByKey("causal_reads").enum, svc.CausalReads) {
		v.errorf(s, "causal_reads", "%q is not supported by maxproxy; use %s", svc.CausalReads, quoteList(SupportedCausalReads, "or"))
	}
}

func (v *validator) checkListeners() {
	for i := range v.cfg.Listeners {
		l := &v.cfg.Listeners[i]
		s := v.site("listener", i, l.Name)
		if l.Service != "" {
			v.checkRef(s, "service", l.Service, "service")
		}
		if l.SSL {
			for _, k := range []struct{ key, val string }{{"ssl_cert", l.SSLCert}, {"ssl_key", l.SSLKey}} {
				if k.val == "" {
					v.errorf(s, k.key, "must be set when ssl = true")
				}
			}
			continue
		}
		v.checkSSLUnused(s, map[string]string{"ssl_cert": l.SSLCert, "ssl_key": l.SSLKey, "ssl_ca": l.SSLCA})
	}
}

func (v *validator) checkServers() {
	for i := range v.cfg.Servers {
		srv := &v.cfg.Servers[i]
		s := v.site("server", i, srv.Name)
		if host, port, err := net.SplitHostPort(srv.Address); err == nil {
			v.errorf(s, "address", "must not include the port: write address = %q and port = %s", host, port)
		}
		if !srv.SSL {
			v.checkSSLUnused(s, map[string]string{"ssl_cert": srv.SSLCert, "ssl_key": srv.SSLKey, "ssl_ca": srv.SSLCA})
			if srv.SSLVerifyPeerCertificate {
				v.errorf(s, "ssl_verify_peer_certificate", "has no effect while ssl = false; set ssl = true")
			}
			continue
		}
		v.checkPair(s, "ssl_cert", srv.SSLCert, "ssl_key", srv.SSLKey)
	}
}

// checkSSLUnused reports TLS files given to an object with ssl = false: the
// operator evidently meant to turn TLS on.
func (v *validator) checkSSLUnused(s site, files map[string]string) {
	for _, k := range sortedKeys(files) {
		if files[k] != "" {
			v.errorf(s, k, "is set but ssl = false; set ssl = true to use TLS, or remove %s", k)
		}
	}
}

// checkPair reports a certificate without its key or the other way round.
func (v *validator) checkPair(s site, k1, v1, k2, v2 string) {
	switch {
	case v1 != "" && v2 == "":
		v.errorf(s, k2, "must be set together with %s", k1)
	case v1 == "" && v2 != "":
		v.errorf(s, k1, "must be set together with %s", k2)
	}
}

func (v *validator) checkAdmin() {
	a := &v.cfg.Admin
	s := v.site("admin", -1, "")
	v.checkPair(s, "tls_cert", a.TLSCert, "tls_key", a.TLSKey)
	switch p := a.Password; {
	case strings.HasPrefix(p, "$2") && !IsBcryptHash(p):
		v.errorf(s, "password", "starts like a bcrypt hash but is not a valid one (make one with `maxproxy hash-password`)")
	case !IsBcryptHash(p) && len(p) > maxBcryptPassword:
		v.errorf(s, "password", "is %d bytes long; bcrypt, which stores it, takes at most %d", len(p), maxBcryptPassword)
	}
	ep, err := parseListen(a.Listen, s)
	switch {
	case errors.Is(err, errEmpty):
	case err != nil:
		v.errorf(s, "listen", "%v", err)
	case a.Enabled && AdminPasswordIsDefault(a.Password) && !ep.loopback():
		// Point at the password if the file sets it, else at the listen
		// address that makes the default unsafe.
		line := s.line(v.pos, "listen")
		if n, ok := v.pos[pathKey("admin", "password")]; ok {
			line = n
		}
		v.add(line, s.key("password"), "the default password %q is refused on a non-loopback address (listen = %q): set a password of your own",
			DefaultAdminPassword, a.Listen)
	}
	s = v.site("metrics", -1, "")
	if _, err := parseListen(v.cfg.Metrics.Listen, s); err != nil && !errors.Is(err, errEmpty) {
		v.errorf(s, "listen", "%v", err)
	}
}

// endpoint is an address a socket is bound to.
type endpoint struct {
	host  string // normalised; "" for every interface
	port  int
	shown string // host:port as written
	at    site
	key   string
}

func (e endpoint) loopback() bool {
	ip, err := netip.ParseAddr(e.host)
	return err == nil && ip.IsLoopback()
}

func (e endpoint) clashes(o endpoint) bool {
	return e.port == o.port && (e.host == "" || o.host == "" || e.host == o.host)
}

func (e endpoint) String() string { return e.shown }

func newEndpoint(host string, port int, at site, key string) endpoint {
	shown := net.JoinHostPort(host, strconv.Itoa(port))
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" {
		// Go binds "localhost" to its first address, 127.0.0.1.
		host = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.IsUnspecified() {
			host = ""
		} else {
			host = ip.String()
		}
	}
	return endpoint{host: host, port: port, shown: shown, at: at, key: key}
}

// parseListen reads the `listen = "host:port"` key of site s.
func parseListen(listen string, s site) (endpoint, error) {
	if listen == "" {
		return endpoint{}, errEmpty
	}
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		example := map[string]string{"admin": Default().Admin.Listen, "metrics": Default().Metrics.Listen}[s.sec.key]
		return endpoint{}, fmt.Errorf("expected host:port, e.g. %q, got %q", example, listen)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return endpoint{}, fmt.Errorf("port must be between 1 and 65535, got %q", p)
	}
	return newEndpoint(host, port, s, "listen"), nil
}

// errEmpty is reported by checkFields already.
var errEmpty = errors.New("must not be empty")

// checkPorts finds two sockets that would bind the same address and port.
// An address that listens on every interface clashes with any address on
// its port.
func (v *validator) checkPorts() {
	var eps []endpoint
	for i := range v.cfg.Listeners {
		l := &v.cfg.Listeners[i]
		if l.Port > 0 && l.Address != "" {
			eps = append(eps, newEndpoint(l.Address, l.Port, v.site("listener", i, l.Name), "port"))
		}
	}
	// Bad listen values were reported by checkAdmin.
	if ep, err := parseListen(v.cfg.Admin.Listen, v.site("admin", -1, "")); err == nil && v.cfg.Admin.Enabled {
		eps = append(eps, ep)
	}
	if ep, err := parseListen(v.cfg.Metrics.Listen, v.site("metrics", -1, "")); err == nil && v.cfg.Metrics.Enabled {
		eps = append(eps, ep)
	}
	slices.SortStableFunc(eps, func(a, b endpoint) int {
		return a.at.line(v.pos, a.key) - b.at.line(v.pos, b.key)
	})
	for i, e := range eps {
		for _, o := range eps[:i] {
			if !e.clashes(o) {
				continue
			}
			switch by := o.at.ref(v.pos, o.key); {
			case e.host == o.host:
				v.errorf(e.at, e.key, "%s is already used by %s", e, by)
			case o.host == "":
				v.errorf(e.at, e.key, "%s is already used by %s, which listens on every address", e, by)
			default:
				v.errorf(e.at, e.key, "%s listens on every address, including %s, already used by %s", e, o, by)
			}
			break
		}
	}
}
