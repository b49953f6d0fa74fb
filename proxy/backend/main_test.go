package backend_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// mdb is the MariaDB server shared by the tests of this package, started
// by the integration harness on first use (tests skip, saying what to
// install, when mariadbd is missing).
var (
	mdb = harness.NewShared("backend-mariadb", startMariaDB)

	certs   *testCerts
	appUser = "app"
	appPass = "app-secret"
	testDB  = "proxytest"
)

func TestMain(m *testing.M) {
	var err error
	if certs, err = newTestCerts(); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
	code := harness.Main(m, mdb)
	os.RemoveAll(certs.dir)
	os.Exit(code)
}

func startMariaDB(ctx context.Context, scope *harness.Scope) (*harness.Server, error) {
	var files [3]string
	for i, name := range []string{"ca.pem", "server.pem", "server-key.pem"} {
		pem, err := os.ReadFile(filepath.Join(certs.dir, name))
		if err != nil {
			return nil, err
		}
		if files[i], err = scope.WriteFile("tls/"+name, pem); err != nil {
			return nil, err
		}
	}
	srv, err := harness.NewMariaDB(ctx, scope, harness.MariaDBOptions{
		ExtraArgs: []string{"--max-allowed-packet=64M", "--local-infile=1",
			"--ssl-ca=" + files[0], "--ssl-cert=" + files[1], "--ssl-key=" + files[2]},
		Accounts: []harness.Account{
			{User: appUser, Password: appPass, Grants: []string{"ALL ON " + testDB + ".*"}},
			harness.ServiceAccount,
		},
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Exec(ctx, "CREATE DATABASE "+testDB); err != nil {
		return nil, err
	}
	return srv, nil
}

func needServer(t testing.TB) *harness.Server {
	t.Helper()
	return mdb.Get(t)
}

type testCerts struct {
	dir                           string
	caFile, serverCert, serverKey string
	pool                          *x509.CertPool
	proxyCert                     tls.Certificate
}

// newTestCerts makes a CA and one certificate for 127.0.0.1 signed by it,
// used by both mariadbd and the test proxy.
func newTestCerts() (*testCerts, error) {
	dir, err := os.MkdirTemp("", "backendtest-certs-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "maxproxy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &testCerts{dir: dir, caFile: filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem")}
	for path, blk := range map[string]*pem.Block{
		c.caFile:     {Type: "CERTIFICATE", Bytes: caDER},
		c.serverCert: {Type: "CERTIFICATE", Bytes: der},
		c.serverKey:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o644); err != nil {
			return nil, err
		}
	}
	c.pool = x509.NewCertPool()
	c.pool.AddCert(ca)
	c.proxyCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return c, nil
}
