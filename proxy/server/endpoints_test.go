package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLSListenerAndMetricsEndpoint: a listener with ssl = true accepts a
// TLS client (and still plain ones), and [metrics] serves the proxy's
// metrics over HTTP.
func TestTLSListenerAndMetricsEndpoint(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	reg := prometheus.NewRegistry()
	p := startProxyWith(t, func(cfg *config.Config) {
		cfg.Listeners[0].SSL = true
		cfg.Listeners[0].SSLCert, cfg.Listeners[0].SSLKey = cert, key
		cfg.Metrics.Enabled, cfg.Metrics.Listen = true, "127.0.0.1:0"
	}, Options{Registerer: reg, Gatherer: reg})
	ctx := ctxFor(t, time.Minute)

	dc, err := driver.ParseDSN(harness.TCPDSN(p.addr, "app", "app", ""))
	if err != nil {
		t.Fatal(err)
	}
	dc.TLSConfig = "skip-verify"
	db, err := sql.Open("mysql", dc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cipher string
	if err := db.QueryRowContext(ctx, "SELECT 'tls'").Scan(&cipher); err != nil || cipher != "tls" {
		t.Fatalf("query over TLS: %q, %v", cipher, err)
	}

	resp, err := http.Get("http://" + p.srv.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`maxproxy_sessions_total{service="rw"} 1`, "maxproxy_queries_routed_total", "maxproxy_backend_connections"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
