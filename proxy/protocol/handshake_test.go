package protocol

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestParseRealMariaDBGreeting(t *testing.T) {
	p, err := os.ReadFile("testdata/mariadb-10.11-greeting.bin")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseInitialHandshake(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerVersion != "5.5.5-10.11.19-MariaDB-0+deb12u1" || h.ConnectionID != 8 ||
		len(h.Salt) != SaltLen || h.AuthPlugin != NativePlugin || h.Collation != 8 {
		t.Fatalf("%+v", h)
	}
	for _, f := range []uint32{mysql.CLIENT_PROTOCOL_41, mysql.CLIENT_SECURE_CONNECTION, mysql.CLIENT_DEPRECATE_EOF,
		mysql.CLIENT_SESSION_TRACK, mysql.CLIENT_MULTI_STATEMENTS, mysql.CLIENT_PLUGIN_AUTH} {
		if h.Capabilities&f == 0 {
			t.Errorf("capability %#x missing", f)
		}
	}
	// MariaDB clears CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") and announces its
	// extended capabilities in the filler.
	if h.Capabilities&mysql.CLIENT_LONG_PASSWORD != 0 || h.MariaDBCapabilities == 0 {
		t.Errorf("MariaDB extended capabilities not decoded: caps %#x ext %#x", h.Capabilities, h.MariaDBCapabilities)
	}
}

func TestInitialHandshakeRoundTrip(t *testing.T) {
	h := &InitialHandshake{
		ServerVersion: AdvertisedVersion("10.11.19-MariaDB-log"),
		ConnectionID:  77,
		Salt:          []byte("ABCDEFGHIJKLMNOPQRST"),
		Capabilities:  ServerCapabilities | mysql.CLIENT_SSL,
		Collation:     45,
		Status:        mysql.SERVER_STATUS_AUTOCOMMIT,
		AuthPlugin:    NativePlugin,
	}
	got, err := ParseInitialHandshake(h.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("got %+v\nwant %+v", got, h)
	}
	if got.ServerVersion != "5.5.5-10.11.19-MariaDB-log" {
		t.Fatal(got.ServerVersion)
	}
}

func TestParseGreetingThatIsAnError(t *testing.T) {
	_, err := ParseInitialHandshake(AppendERR(nil, ErrTooManyConnections(), caps41))
	var me *Error
	if !errors.As(err, &me) || me.Code != ERConCount {
		t.Fatalf("got %v", err)
	}
}

func TestAdvertisedVersion(t *testing.T) {
	cases := map[string]string{
		"10.11.19-MariaDB":        "5.5.5-10.11.19-MariaDB",
		"5.5.5-10.6.1-MariaDB":    "5.5.5-10.6.1-MariaDB",
		"11.4.2-MariaDB-log":      "5.5.5-11.4.2-MariaDB-log",
		"8.0.36":                  "8.0.36",
		"5.5.68-MariaDB":          "5.5.68-MariaDB",
		"maxnode-10.11.0-MariaDB": "maxnode-10.11.0-MariaDB",
	}
	for in, want := range cases {
		if got := AdvertisedVersion(in); got != want {
			t.Errorf("AdvertisedVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHandshakeResponseRoundTrip(t *testing.T) {
	base := HandshakeResponse{
		MaxPacketSize: 1 << 24, Collation: 224, User: "app",
		AuthResponse: bytes.Repeat([]byte{0xab}, 20), DB: "shop", AuthPlugin: NativePlugin,
		Attrs: []Attr{{"_client_name", "libmariadb"}, {"program_name", "mariadb"}},
	}
	all := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
		mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_CONNECT_ATTRS
	variants := map[string]uint32{
		"all":            all,
		"no lenenc auth": all &^ mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
		"no db":          all &^ mysql.CLIENT_CONNECT_WITH_DB,
		"no attrs":       all &^ mysql.CLIENT_CONNECT_ATTRS,
		"minimal":        mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION,
	}
	for name, caps := range variants {
		t.Run(name, func(t *testing.T) {
			want := base
			want.Capabilities = caps
			if caps&mysql.CLIENT_CONNECT_WITH_DB == 0 {
				want.DB = ""
			}
			if caps&mysql.CLIENT_PLUGIN_AUTH == 0 {
				want.AuthPlugin = ""
			}
			if caps&mysql.CLIENT_CONNECT_ATTRS == 0 {
				want.Attrs = nil
			}
			got, err := ParseHandshakeResponse(want.Append(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestSSLRequest(t *testing.T) {
	r := &HandshakeResponse{Capabilities: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SSL, MaxPacketSize: 1 << 24, Collation: 45}
	p := r.AppendSSLRequest(nil)
	if !IsSSLRequest(p) {
		t.Fatal("not recognised")
	}
	got, err := ParseSSLRequest(p)
	if err != nil || got.Capabilities != r.Capabilities || got.Collation != 45 || got.MaxPacketSize != 1<<24 {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ParseSSLRequest(p[:31]); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	// A full response with CLIENT_SSL set is not an SSLRequest.
	r.User = "x"
	if IsSSLRequest(r.Append(nil)) {
		t.Fatal("full response taken for SSLRequest")
	}
}

func TestParseHandshakeResponseErrors(t *testing.T) {
	good := (&HandshakeResponse{Capabilities: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_CONNECT_WITH_DB,
		User: "u", AuthResponse: []byte("01234567890123456789"), DB: "d"}).Append(nil)
	for i := 0; i < len(good)-1; i++ {
		if _, err := ParseHandshakeResponse(good[:i]); err == nil && i < 32+2+21 {
			t.Fatalf("prefix %d accepted", i)
		}
	}
	old := []byte{0x05, 0xa6, 0, 0, 0, 0, 0, 'u', 0}
	if _, err := ParseHandshakeResponse(old); !errors.Is(err, ErrMalformed) {
		t.Fatalf("pre-4.1 response: %v", err)
	}
}

func TestChangeUserRoundTrip(t *testing.T) {
	caps := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_ATTRS
	want := &ChangeUser{User: "bob", AuthResponse: bytes.Repeat([]byte{1}, 20), DB: "shop", Collation: 45,
		AuthPlugin: NativePlugin, Attrs: []Attr{{"k", "v"}}}
	got, err := ParseChangeUser(want.Append(nil, caps), caps)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v %v", got, err)
	}
	// Old clients stop after the database name.
	short := []byte{mysql.COM_CHANGE_USER, 'b', 0, 0, 'd', 0}
	got, err = ParseChangeUser(short, caps)
	if err != nil || got.User != "b" || got.DB != "d" || got.Collation != 0 {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ParseChangeUser([]byte{mysql.COM_CHANGE_USER, 'b', 0, 30, 1}, caps); !errors.Is(err, ErrMalformed) {
		t.Fatalf("auth length past end: %v", err)
	}
}

func TestAuthSwitch(t *testing.T) {
	salt := []byte("ABCDEFGHIJKLMNOPQRST")
	plugin, data, err := parseAuthSwitch(appendAuthSwitch(nil, NativePlugin, salt))
	if err != nil || plugin != NativePlugin || !bytes.Equal(data, salt) {
		t.Fatalf("%q %q %v", plugin, data, err)
	}
}
