// Package config loads and validates node.toml, the configuration file of maxnode.
//
// Decoding is strict: a key the schema does not know is an error naming the file, the line and the key,
// so a typo never silently falls back to a default. Setting names follow MariaDB's (and, for cluster
// settings, Galera's) where one exists: cluster_name, cluster_address ("gcomm://host:port,...") and
// node_address are wsrep_cluster_name, wsrep_cluster_address and wsrep_node_address, sst_donor is
// wsrep_sst_donor. Of Galera's provider options (wsrep_provider_options) the flow-control ones,
// evs.inactive_timeout, gcache.size and pc.weight are supported, under their own names: gcs.fc_limit,
// gcs.fc_factor, gcs.fc_single_primary, evs.inactive_timeout, gcache.size and pc.weight (a [gcs], [evs],
// [gcache] or [pc] table, or dotted keys); any other is rejected like every unknown key.
package config

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults, as MariaDB 10.11 ships them unless noted.
const (
	DefaultListen                 = "127.0.0.1:3306"
	DefaultFlushLogAtTrxCommit    = 1
	DefaultLockWaitTimeoutSeconds = 50
	DefaultMaxConnections         = 151
	DefaultMaxAllowedPacket       = 64 << 20 // MariaDB's is 16 MiB; 64 MiB lets >16 MiB multi-packet payloads through
	maxMaxAllowedPacket           = 1 << 30
	maxLockWaitTimeoutSeconds     = 1073741824
	maxMaxConnections             = 100000
	DefaultLogLevel               = "info"
	DefaultWaitTimeoutSeconds     = 28800
	DefaultNetWriteTimeoutSeconds = 60
	maxTimeoutSeconds             = 31536000
	nativeHashLen                 = 41                 // "*" + 40 hex digits
	DefaultClusterName            = "my_wsrep_cluster" // wsrep_cluster_name's default
	DefaultReplicationPort        = "4567"             // Galera's group communication port
	DefaultFCLimit                = 16                 // gcs.fc_limit
	DefaultGcacheSize             = 128 << 20          // gcache.size
	minGcacheSize                 = 1 << 10
	DefaultFCFactor               = 1.0              // gcs.fc_factor
	DefaultInactiveTimeout        = 15 * time.Second // evs.inactive_timeout
	maxFCLimit                    = 1 << 31
	gcommScheme                   = "gcomm://"
)

// Config is the whole node.toml.
type Config struct {
	// DataDir holds the node's durable state. Required (from the file or --datadir).
	DataDir string `toml:"datadir"`
	// Listen is the MySQL protocol address, host:port.
	Listen string `toml:"listen"`
	// NodeName identifies the node (Galera's wsrep_node_name); defaults to the host name.
	NodeName string `toml:"node_name"`
	// FlushLogAtTrxCommit is innodb_flush_log_at_trx_commit: 1 makes every commit durable before it is
	// acknowledged; 0 and 2 fsync at least once a second (both map to the storage's relaxed policy).
	FlushLogAtTrxCommit int `toml:"innodb_flush_log_at_trx_commit"`
	// LockWaitTimeout is innodb_lock_wait_timeout in seconds.
	LockWaitTimeout int `toml:"innodb_lock_wait_timeout"`
	// MaxConnections is max_connections; like MariaDB one extra connection is kept for SUPER users.
	MaxConnections int `toml:"max_connections"`
	// MaxAllowedPacket is max_allowed_packet in bytes: the largest command a client may send.
	MaxAllowedPacket int `toml:"max_allowed_packet"`
	// WaitTimeout is wait_timeout in seconds: an idle client connection is closed after it.
	WaitTimeout int `toml:"wait_timeout"`
	// NetWriteTimeout is net_write_timeout in seconds: a client that stops reading a reply is
	// disconnected after it (its transaction rolls back).
	NetWriteTimeout int `toml:"net_write_timeout"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// ClusterName is wsrep_cluster_name.
	ClusterName string `toml:"cluster_name"`
	// ClusterAddress is wsrep_cluster_address: "gcomm://h1:p1,h2:p2,..." lists the members' replication
	// addresses (port 4567 when omitted). A member's identity is its position in the list, so every node
	// lists the members in the same order; a new node appends itself and joins (the others learn its
	// address from the cluster). Empty: a standalone node.
	ClusterAddress string `toml:"cluster_address"`
	// NodeAddress is wsrep_node_address: this node's replication listen address, one of ClusterAddress's
	// members. Required with ClusterAddress.
	NodeAddress string `toml:"node_address"`
	// SSTDonor is wsrep_sst_donor: the node names (node_name) this node asks, in order, for a state
	// transfer; a trailing comma lets any other member donate when none of them can. Empty: any member.
	SSTDonor string `toml:"sst_donor"`
	// GCS holds the flow-control provider options (gcs.fc_limit, gcs.fc_factor, gcs.fc_single_primary).
	GCS GCS `toml:"gcs"`
	// EVS holds evs.inactive_timeout.
	EVS EVS `toml:"evs"`
	// Gcache holds gcache.size.
	Gcache Gcache `toml:"gcache"`
	// PC holds pc.weight.
	PC PC `toml:"pc"`
	// Users are created (or brought up to date) at every start, after the built-in root accounts.
	Users []User `toml:"user"`
}

// EVS is Galera's evs.* membership options (GALERA.md §6.2, §8).
type EVS struct {
	// InactiveTimeout is evs.inactive_timeout: a member the others have not heard from for this long is
	// evicted from the view (and the voter set). Galera's ISO 8601 form ("PT15S") or Go's ("15s").
	InactiveTimeout Duration `toml:"inactive_timeout"`
}

// Duration is a time.Duration read from "PT15S" (ISO 8601, as Galera writes its timeouts) or "15s".
type Duration time.Duration

var isoDuration = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$`)

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if m := isoDuration.FindStringSubmatch(strings.ToUpper(s)); m != nil && len(s) > len("PT") {
		var total time.Duration
		for i, unit := range []time.Duration{time.Hour, time.Minute} {
			if m[i+1] != "" {
				n, err := strconv.Atoi(m[i+1])
				if err != nil {
					return fmt.Errorf("bad duration %q", s)
				}
				total += time.Duration(n) * unit
			}
		}
		if m[3] != "" {
			f, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				return fmt.Errorf("bad duration %q", s)
			}
			total += time.Duration(f * float64(time.Second))
		}
		*d = Duration(total)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: want PT15S or 15s", s)
	}
	*d = Duration(v)
	return nil
}

// ParseSSTDonor splits a wsrep_sst_donor value into its node names and whether a trailing comma allows
// any other member as a last resort.
func ParseSSTDonor(v string) (names []string, anyOther bool, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, true, nil
	}
	if strings.HasSuffix(v, ",") {
		anyOther, v = true, strings.TrimSuffix(v, ",")
	}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, false, fmt.Errorf("empty node name in %q", v)
		}
		names = append(names, n)
	}
	return names, anyOther, nil
}

// PC is Galera's pc.* options (GALERA.md §6.1).
type PC struct {
	// Weight is pc.weight: 1 (the default) makes the node a voter, 0 a member that never counts in quorum
	// (it stays in the view and the primary component). Raft counts every voter once, so larger weights
	// are refused.
	Weight int `toml:"weight"`
}

// Gcache is Galera's gcache.* options (GALERA.md §5.3).
type Gcache struct {
	// Size is gcache.size: how much recent replication log the node keeps so that members that fall
	// behind catch up from it (IST); one that falls further behind gets a full state transfer (SST).
	// "128M", "1G", "64K" or a number of bytes.
	Size ByteSize `toml:"size"`
}

// ByteSize is a size in bytes read from Galera's notation: a number with an optional K, M, G or T suffix
// (powers of 1024).
type ByteSize uint64

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(t []byte) error {
	s := strings.TrimSpace(string(t))
	mult := uint64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > (1<<50)/mult {
		return fmt.Errorf("bad size %q: want a number of bytes or one like 128M", string(t))
	}
	*b = ByteSize(v * mult)
	return nil
}

// UnmarshalTOML accepts a plain TOML integer as well as a string.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("bad size %d: must not be negative", x)
		}
		*b = ByteSize(x)
		return nil
	case string:
		return b.UnmarshalText([]byte(x))
	}
	return fmt.Errorf("bad size %v: want a number of bytes or a string like \"128M\"", v)
}

// GCS is Galera's gcs.* flow-control options (GALERA.md §7).
type GCS struct {
	// FCLimit is gcs.fc_limit: a node whose receive queue grows above FCLimit × √(cluster size) pauses
	// replication in the whole cluster.
	FCLimit int `toml:"fc_limit"`
	// FCFactor is gcs.fc_factor: replication resumes once the queue is at or below the limit × FCFactor.
	FCFactor float64 `toml:"fc_factor"`
	// FCSinglePrimary is gcs.fc_single_primary: the limit does not grow with the cluster size.
	FCSinglePrimary bool `toml:"fc_single_primary"`
}

// User is one [[user]] table.
type User struct {
	Name string `toml:"name"`
	// Host is the account's host pattern ('%' when empty).
	Host string `toml:"host"`
	// Password is the cleartext password; PasswordHash is the mysql_native_password hash ("*" + 40 hex
	// digits, as in mysql.user). At most one of the two may be set; neither means no password.
	Password     string `toml:"password"`
	PasswordHash string `toml:"password_hash"`
	// Grants are privilege clauses as in GRANT, e.g. "ALL PRIVILEGES ON *.*" or "SELECT ON sbtest.*".
	Grants []string `toml:"grants"`
}

var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "(.*?)"\): (.*)$`)

// Default returns a configuration with every default filled in and no data directory.
func Default() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "maxnode"
	}
	return Config{
		Listen:              DefaultListen,
		NodeName:            host,
		FlushLogAtTrxCommit: DefaultFlushLogAtTrxCommit,
		LockWaitTimeout:     DefaultLockWaitTimeoutSeconds,
		MaxConnections:      DefaultMaxConnections,
		MaxAllowedPacket:    DefaultMaxAllowedPacket,
		LogLevel:            DefaultLogLevel,
		WaitTimeout:         DefaultWaitTimeoutSeconds,
		NetWriteTimeout:     DefaultNetWriteTimeoutSeconds,
		ClusterName:         DefaultClusterName,
		GCS:                 GCS{FCLimit: DefaultFCLimit, FCFactor: DefaultFCFactor},
		EVS:                 EVS{InactiveTimeout: Duration(DefaultInactiveTimeout)},
		Gcache:              Gcache{Size: DefaultGcacheSize},
		PC:                  PC{Weight: 1},
	}
}

// Load reads path over the defaults and validates the result.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data (named name in errors) over the defaults and validates the result.
func Parse(name string, data []byte) (Config, error) {
	cfg := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" && perr.Position.Len > 0 {
				// A value its type refused (a size, a duration): name the key as validation errors do.
				return Config{}, fmt.Errorf("%s:%d: %s: %s", name, perr.Position.Line, perr.LastKey, perr.Message)
			}
			return Config{}, fmt.Errorf("%s:%d: %s", name, perr.Position.Line, perr.Message)
		}
		// Type mismatches come as plain errors: "toml: line N (last key "k"): message".
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			return Config{}, fmt.Errorf("%s:%s: %s: %s", name, m[1], m[2], m[3])
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		k := undecoded[0]
		return Config{}, fmt.Errorf("%s:%d: unknown key %q", name, keyLine(data, k), k.String())
	}
	if err := cfg.Validate(); err != nil {
		var kerr *KeyError
		if errors.As(err, &kerr) {
			return Config{}, fmt.Errorf("%s:%d: %w", name, keyLine(data, kerr.Key), err)
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// KeyError is a validation error about one key.
type KeyError struct {
	Key toml.Key
	Msg string
}

func (e *KeyError) Error() string { return fmt.Sprintf("%s: %s", e.Key.String(), e.Msg) }

func keyErr(msg string, key ...string) error { return &KeyError{Key: toml.Key(key), Msg: msg} }

// Validate checks every setting. A missing data directory is not an error here, because
// --datadir may supply it after the file is read; ValidateDataDir checks it.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return keyErr(fmt.Sprintf("want host:port, got %q", c.Listen), "listen")
	}
	if c.NodeName == "" {
		return keyErr("must not be empty", "node_name")
	}
	switch c.FlushLogAtTrxCommit {
	case 0, 1, 2:
	default:
		return keyErr(fmt.Sprintf("must be 0, 1 or 2, got %d", c.FlushLogAtTrxCommit), "innodb_flush_log_at_trx_commit")
	}
	if c.LockWaitTimeout < 1 || c.LockWaitTimeout > maxLockWaitTimeoutSeconds {
		return keyErr(fmt.Sprintf("must be between 1 and %d seconds, got %d", maxLockWaitTimeoutSeconds, c.LockWaitTimeout), "innodb_lock_wait_timeout")
	}
	if c.MaxConnections < 1 || c.MaxConnections > maxMaxConnections {
		return keyErr(fmt.Sprintf("must be between 1 and %d, got %d", maxMaxConnections, c.MaxConnections), "max_connections")
	}
	if c.MaxAllowedPacket < 1024 || c.MaxAllowedPacket > maxMaxAllowedPacket {
		return keyErr(fmt.Sprintf("must be between 1024 and %d bytes, got %d", maxMaxAllowedPacket, c.MaxAllowedPacket), "max_allowed_packet")
	}
	if c.WaitTimeout < 1 || c.WaitTimeout > maxTimeoutSeconds {
		return keyErr(fmt.Sprintf("must be between 1 and %d seconds, got %d", maxTimeoutSeconds, c.WaitTimeout), "wait_timeout")
	}
	if c.NetWriteTimeout < 1 || c.NetWriteTimeout > maxTimeoutSeconds {
		return keyErr(fmt.Sprintf("must be between 1 and %d seconds, got %d", maxTimeoutSeconds, c.NetWriteTimeout), "net_write_timeout")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return keyErr(fmt.Sprintf("must be debug, info, warn or error, got %q", c.LogLevel), "log_level")
	}
	if c.ClusterName == "" {
		return keyErr("must not be empty", "cluster_name")
	}
	if c.ClusterAddress != "" {
		if _, _, err := c.ClusterMembers(); err != nil {
			return err
		}
	} else if c.NodeAddress != "" {
		return keyErr("needs cluster_address", "node_address")
	}
	if c.GCS.FCLimit < 1 || c.GCS.FCLimit > maxFCLimit {
		return keyErr(fmt.Sprintf("must be between 1 and %d, got %d", maxFCLimit, c.GCS.FCLimit), "gcs", "fc_limit")
	}
	if !(c.GCS.FCFactor >= 0 && c.GCS.FCFactor <= 1) {
		return keyErr(fmt.Sprintf("must be between 0.0 and 1.0, got %v", c.GCS.FCFactor), "gcs", "fc_factor")
	}
	if t := time.Duration(c.EVS.InactiveTimeout); t < time.Second || t > time.Hour {
		return keyErr(fmt.Sprintf("must be between 1s and 1h, got %v", t), "evs", "inactive_timeout")
	}
	if _, _, err := ParseSSTDonor(c.SSTDonor); err != nil {
		return keyErr(err.Error(), "sst_donor")
	}
	switch w := c.PC.Weight; {
	case w < 0 || w > 255:
		return keyErr(fmt.Sprintf("must be between 0 and 255, got %d", w), "pc", "weight")
	case w > 1:
		return keyErr(fmt.Sprintf("%d cannot be expressed: raft counts every voter once; use 1 (a voter) or 0 (a member that never counts in quorum)", w), "pc", "weight")
	}
	if c.Gcache.Size < minGcacheSize {
		return keyErr(fmt.Sprintf("must be at least %d bytes, got %d", minGcacheSize, c.Gcache.Size), "gcache", "size")
	}
	seen := make(map[string]bool, len(c.Users))
	for i := range c.Users {
		u := &c.Users[i]
		if u.Host == "" {
			u.Host = "%"
		}
		if err := u.validate(); err != nil {
			return err
		}
		id := u.Name + "@" + u.Host
		if seen[id] {
			return keyErr(fmt.Sprintf("account '%s'@'%s' is listed twice", u.Name, u.Host), "user", "name")
		}
		seen[id] = true
	}
	return nil
}

func (u *User) validate() error {
	if u.Name == "" {
		return keyErr("must not be empty", "user", "name")
	}
	if len(u.Name) > 128 || strings.ContainsAny(u.Name, "'\\\x00") {
		return keyErr(fmt.Sprintf("invalid user name %q", u.Name), "user", "name")
	}
	if len(u.Host) > 255 || strings.ContainsAny(u.Host, "'\\\x00") {
		return keyErr(fmt.Sprintf("invalid host %q", u.Host), "user", "host")
	}
	if u.Password != "" && u.PasswordHash != "" {
		return keyErr("set password or password_hash, not both", "user", "password_hash")
	}
	if strings.ContainsAny(u.Password, "\x00") {
		return keyErr("must not contain NUL", "user", "password")
	}
	if u.PasswordHash != "" {
		if len(u.PasswordHash) != nativeHashLen || u.PasswordHash[0] != '*' {
			return keyErr("want \"*\" followed by 40 hex digits (mysql_native_password)", "user", "password_hash")
		}
		if _, err := hex.DecodeString(u.PasswordHash[1:]); err != nil {
			return keyErr("want \"*\" followed by 40 hex digits (mysql_native_password)", "user", "password_hash")
		}
	}
	for _, g := range u.Grants {
		if !strings.Contains(strings.ToUpper(g), " ON ") || strings.ContainsAny(g, ";\x00") {
			return keyErr(fmt.Sprintf("want \"<privileges> ON <db>.<table>\", got %q", g), "user", "grants")
		}
	}
	return nil
}

// Clustered reports whether the node is a cluster member (cluster_address is set).
func (c *Config) Clustered() bool { return c.ClusterAddress != "" }

// ClusterMembers parses cluster_address into the members' replication addresses, in the order given, and
// returns this node's position among them (node_address, port 4567 when omitted). A member's raft id is
// its position + 1, so every node must list the members in the same order (a new node may append itself).
func (c *Config) ClusterMembers() (members []string, self int, err error) {
	list, ok := strings.CutPrefix(c.ClusterAddress, gcommScheme)
	if !ok {
		return nil, 0, keyErr(fmt.Sprintf("want \"gcomm://host:port,...\", got %q", c.ClusterAddress), "cluster_address")
	}
	if i := strings.IndexByte(list, '?'); i >= 0 {
		return nil, 0, keyErr("provider options after '?' are not supported", "cluster_address")
	}
	if strings.TrimSpace(list) == "" {
		return nil, 0, keyErr("an empty gcomm:// is not supported: list every member and start the first with --bootstrap", "cluster_address")
	}
	seen := map[string]bool{}
	for _, m := range strings.Split(list, ",") {
		addr, err := withDefaultPort(strings.TrimSpace(m))
		if err != nil {
			return nil, 0, keyErr(err.Error(), "cluster_address")
		}
		if seen[addr] {
			return nil, 0, keyErr(fmt.Sprintf("member %s is listed twice", addr), "cluster_address")
		}
		seen[addr] = true
		members = append(members, addr)
	}
	if c.NodeAddress == "" {
		return nil, 0, keyErr("must be set (this node's replication address, one of cluster_address)", "node_address")
	}
	me, err := withDefaultPort(c.NodeAddress)
	if err != nil {
		return nil, 0, keyErr(err.Error(), "node_address")
	}
	for i, m := range members {
		if m == me {
			return members, i, nil
		}
	}
	return nil, 0, keyErr(fmt.Sprintf("%s is not one of cluster_address's members", me), "node_address")
}

func withDefaultPort(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("empty address")
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, nil
	}
	if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "[") {
		addr = "[" + addr + "]" // a bare IPv6 address
	}
	full := addr + ":" + DefaultReplicationPort
	if _, _, err := net.SplitHostPort(full); err != nil {
		return "", fmt.Errorf("want host[:port], got %q", addr)
	}
	return full, nil
}

// ValidateDataDir reports a missing data directory.
func (c *Config) ValidateDataDir() error {
	if c.DataDir == "" {
		return errors.New("datadir is not set (use the datadir key or --datadir)")
	}
	return nil
}

// LockWaitTimeoutDuration is innodb_lock_wait_timeout as a duration.
func (c *Config) LockWaitTimeoutDuration() time.Duration {
	return time.Duration(c.LockWaitTimeout) * time.Second
}

// keyLine finds the line that defines key, so errors can point at it. It understands the subset of
// TOML a config file uses: [table] and [[array]] headers and bare, quoted or dotted keys. It returns 0
// when the key cannot be located (the message still names the key).
func keyLine(data []byte, key toml.Key) int {
	var table []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if strings.HasPrefix(text, "[") {
			header := strings.Trim(strings.SplitN(text, "#", 2)[0], " \t")
			header = strings.TrimSpace(strings.Trim(header, "[]"))
			table = splitKey(header)
			if keyEqual(table, key) {
				return line
			}
			continue
		}
		eq := strings.IndexByte(text, '=')
		if eq < 0 {
			continue
		}
		full := append(append([]string{}, table...), splitKey(text[:eq])...)
		if keyEqual(full, key) || (len(full) > len(key) && keyEqual(full[:len(key)], key)) {
			return line
		}
	}
	return 0
}

func splitKey(s string) []string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return parts
}

func keyEqual(a []string, b toml.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
