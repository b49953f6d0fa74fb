package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/maxproxy/maxproxy/config"
)

// listenerTLS builds the client-facing TLS configuration of a listener
// (nil without ssl). ssl_ca, when set, asks clients for certificates
// signed by it.
func listenerTLS(l *config.Listener) (*tls.Config, error) {
	if !l.SSL {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(l.SSLCert, l.SSLKey)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", l.Name, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if l.SSLVersion == "TLSv13" {
		c.MinVersion = tls.VersionTLS13
	}
	if l.SSLCA != "" {
		pool, err := loadPool(l.SSLCA)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", l.Name, err)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// serverTLS builds the backend TLS configuration of a server (nil without
// ssl). Without ssl_verify_peer_certificate the certificate is not checked,
// as in MaxScale.
func serverTLS(s *config.Server) (*tls.Config, error) {
	if !s.SSL {
		return nil, nil
	}
	c := &tls.Config{ServerName: s.Address, MinVersion: tls.VersionTLS12, InsecureSkipVerify: !s.SSLVerifyPeerCertificate} //nolint:gosec // MaxScale's default, opt-in verification
	if s.SSLCA != "" {
		pool, err := loadPool(s.SSLCA)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", s.Name, err)
		}
		c.RootCAs = pool
	}
	if s.SSLCert != "" {
		cert, err := tls.LoadX509KeyPair(s.SSLCert, s.SSLKey)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", s.Name, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
}
