package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSecretsStayOut runs sources that carry credentials against a server
// that refuses them and echoes back everything it was sent (headers, URL,
// body). No credential may show in the logs, the fetch errors, /metrics,
// the API or the status pages.
func TestSecretsStayOut(t *testing.T) {
	const (
		mastoToken = "masto-tok-7c1f2e9a"
		skyPass    = "sky-app-pw-55d0b3"
		feedPass   = "feed-pw-90aa41"
		queryToken = "qs-tok-13be77"
	)
	t.Setenv("FAULT_MASTO_TOKEN", mastoToken)
	t.Setenv("FAULT_SKY_PASSWORD", skyPass)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", "Bearer realm=\""+r.Header.Get("Authorization")+"\"")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":%q,"message":%q}`, r.Header.Get("Authorization")+" "+r.URL.String(), string(body))
	}))
	defer echo.Close()
	withUser := strings.Replace(echo.URL, "http://", "http://alice:"+feedPass+"@", 1)
	cfg := strings.NewReplacer("ECHO", echo.URL, "USERURL", withUser, "QTOKEN", queryToken).Replace(readersConfig + `sources:
  - {name: masto, kind: mastodon, instances: ["ECHO"], tags: [proxmox], token: {env: FAULT_MASTO_TOKEN}}
  - {name: sky, kind: bluesky, url: "ECHO", identifier: alice.example, app_password: {env: FAULT_SKY_PASSWORD}}
  - {name: userinfo, kind: feed, url: "USERURL/feed.xml", format: audience}
  - {name: query, kind: feed, url: "ECHO/feed.xml?access_token=QTOKEN&q=proxmox", format: audience}
scoring: {window: 365d, baseline: 28d}
`)
	g, l := loadTestConfig(t, cfg)
	logs := &syncBuffer{}
	d, err := newDaemon(context.Background(), g, l, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	gen, err := d.build(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.activate(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	var errs strings.Builder
	failed := 0
	d.fetchAll(context.Background(), func(name string, _ batchStats, err error) {
		if err != nil {
			failed++
			fmt.Fprintf(&errs, "%s: %v\n", name, err)
		}
	})
	if failed != len(gen.sources) {
		t.Fatalf("%d of %d sources failed, want all refused:\n%s", failed, len(gen.sources), errs.String())
	}
	if err := d.score(context.Background()); err != nil {
		t.Fatal(err)
	}

	outputs := map[string]string{"fetch errors": errs.String(), "logs": logs.String()}
	h := d.handler(nil)
	for _, path := range []string{"/metrics", "/api/v1/sources", "/api/v1/topics", "/api/v1/topics/proxmox", "/", "/sources", "/topics/proxmox"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
		outputs[path] = rec.Body.String()
	}
	if !strings.Contains(outputs["/api/v1/sources"], "401") {
		t.Errorf("/api/v1/sources does not show the failures:\n%s", outputs["/api/v1/sources"])
	}
	for where, text := range outputs {
		for _, secret := range []string{mastoToken, skyPass, feedPass, queryToken} {
			if strings.Contains(text, secret) {
				t.Errorf("%s carries the secret %q:\n%s", where, secret, text)
			}
		}
	}
}
