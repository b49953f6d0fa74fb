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
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/proxy/backend/mariadbtest"
)

// srv is the MariaDB server shared by the tests of this package; nil when
// mariadbd is not installed (tests then skip, saying why).
var (
	srv     *mariadbtest.Server
	srvErr  error
	certs   *testCerts
	appUser = "app"
	appPass = "app-secret"
	testDB  = "proxytest"
)

func TestMain(m *testing.M) {
	code := func() int {
		var err error
		certs, err = newTestCerts()
		if err != nil {
			fmt.Fprintln(os.Stderr, "certs:", err)
			return 1
		}
		defer os.RemoveAll(certs.dir)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, srvErr = mariadbtest.Start(ctx, mariadbtest.Options{CertFile: certs.serverCert, KeyFile: certs.serverKey, CAFile: certs.caFile})
		if srvErr != nil {
			if !errors.Is(srvErr, mariadbtest.ErrNotInstalled) {
				fmt.Fprintln(os.Stderr, "mariadbd:", srvErr)
				return 1
			}
			srv = nil
		} else {
			defer srv.Stop()
			setup := fmt.Sprintf(`CREATE DATABASE %[3]s;
CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s';
CREATE USER '%[1]s'@'localhost' IDENTIFIED BY '%[2]s';
GRANT ALL ON %[3]s.* TO '%[1]s'@'%%';
GRANT ALL ON %[3]s.* TO '%[1]s'@'localhost';
GRANT FILE ON *.* TO '%[1]s'@'localhost';`, appUser, appPass, testDB)
			if _, err := srv.Exec(ctx, setup); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func needServer(t testing.TB) *mariadbtest.Server {
	t.Helper()
	if srv == nil {
		t.Skip(srvErr)
	}
	return srv
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
