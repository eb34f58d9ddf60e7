package store

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestZZExplain(t *testing.T) {
	s, err := OpenSQLite(context.Background(), "/tmp/zzbench.db", nil)
	if err != nil { t.Fatal(err) }
	defer s.Close()
	var n int
	s.r.QueryRow(`SELECT COUNT(*) FROM mentions`).Scan(&n)
	if n == 0 {
		for i := range 100 { s.Commit(context.Background(), benchBatch(i, 500)) }
	}
	s.r.SetMaxOpenConns(1)
	if p := os.Getenv("ZZPRAGMA"); p != "" { for _, x := range strings.Split(p, ";") { if _, err := s.r.Exec("PRAGMA "+x); err != nil { t.Fatal(err) } } }
	if p := os.Getenv("ZZSQL"); p != "" { for _, x := range strings.Split(p, ";") { if _, err := s.w.Exec(x); err != nil { t.Fatal(err) } } }
	from, to := t0.Add(-7*24*time.Hour).Unix(), t0.Unix()+1
	for _, q := range []string{
		`SELECT topic, COUNT(*), COUNT(DISTINCT CASE WHEN author <> '' THEN author END), COALESCE(SUM(engagement), 0), SUM(CASE WHEN sentiment > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN sentiment < 0 THEN 1 ELSE 0 END) FROM mentions WHERE ts >= ? AND ts < ? GROUP BY topic`,
		`SELECT topic, COUNT(*), COALESCE(SUM(engagement), 0), SUM(CASE WHEN sentiment > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN sentiment < 0 THEN 1 ELSE 0 END) FROM mentions WHERE ts >= ? AND ts < ? GROUP BY topic`,
		`SELECT topic, format, COUNT(*) FROM mentions WHERE ts >= ? AND ts < ? GROUP BY topic, format`,
		`SELECT m.topic, b.brand, COUNT(*) FROM mentions m JOIN brand_mentions b ON b.post_id = m.post_id WHERE m.ts >= ? AND m.ts < ? GROUP BY m.topic, b.brand`,
		`SELECT COUNT(*) FROM mentions WHERE ts >= ? AND ts < ?`,
		`SELECT topic, format, author, engagement, sentiment FROM mentions WHERE ts >= ? AND ts < ?`,
	} {
		rows, _ := s.r.Query("EXPLAIN QUERY PLAN "+q, from, to)
		for rows.Next() { var a, b, c int; var d string; rows.Scan(&a, &b, &c, &d); t.Log(d) }
		rows.Close()
		st := time.Now()
		rows, err := s.r.Query(q, from, to)
		if err != nil { t.Fatal(err) }
		k := 0
		for rows.Next() { k++; var a, b, c string; var d, e float64; rows.Scan(&a, &b, &c, &d, &e) }
		rows.Close()
		t.Logf("%d rows %v", k, time.Since(st))
	}
}
