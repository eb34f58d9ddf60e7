package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestWebConfigBasicAuth runs the binary with an exporter-toolkit web config
// (TLS and basic auth): every surface — /metrics, the API, the status pages,
// the health endpoint — answers 401 without the password and 200 with it,
// and only over TLS.
func TestWebConfigBasicAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "affinityd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pool := selfSigned(t, dir)
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"+
		"basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--web.listen-address", addr, "--web.config.file", webCfg, "--storage.path", filepath.Join(dir, "a.db"))
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	get := func(scheme, path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for get("https", "/metrics", "", "") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // waiting for the listener, not timing anything
	}
	for _, path := range []string{"/metrics", "/api/v1/topics", "/api/v1/sources", "/", "/sources", "/-/healthy"} {
		for _, c := range []struct {
			scheme, user, pass string
			want               int
		}{
			{"https", "", "", http.StatusUnauthorized},
			{"https", "prometheus", "wrong", http.StatusUnauthorized},
			{"https", "prometheus", "s3cret", http.StatusOK},
			{"http", "prometheus", "s3cret", http.StatusBadRequest}, // plain HTTP to a TLS port
		} {
			if got := get(c.scheme, path, c.user, c.pass); got != c.want {
				t.Errorf("%s %s as %q: status %d, want %d\n%s", c.scheme, path, c.user, got, c.want, logs.String())
			}
		}
	}
}

// selfSigned writes cert.pem and key.pem for 127.0.0.1 into dir and returns
// a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "affinityd test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
