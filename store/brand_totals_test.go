package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

func brandTotals(t *testing.T, s Store) map[string]map[string]int64 {
	t.Helper()
	tot, err := s.BrandMentionTotals(context.Background())
	if err != nil {
		t.Fatalf("brand mention totals: %v", err)
	}
	return tot
}

func withBrands(ap affinity.AnalyzedPost, brands ...string) affinity.AnalyzedPost {
	ap.Analysis.Brands = brands
	return ap
}

func TestBrandMentionTotalsCommitTwiceCountsOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		if tot := brandTotals(t, s); len(tot) != 0 {
			t.Fatalf("new store: brand totals = %v, want none", tot)
		}
		batch := affinity.Batch{Source: "feed", Posts: []affinity.AnalyzedPost{
			// Topics and brands listed twice count once; each topic × brand pair of a post adds 1.
			withBrands(analyzed(post("feed", "1", "https://x.example/1", at(0)), "t1", "t2", "t1"), "acme", "rival", "acme"),
			withBrands(analyzed(post("feed", "2", "https://x.example/2", at(time.Minute)), "t1"), "rival"),
			withBrands(analyzed(post("feed", "3", "https://x.example/3", at(time.Minute))), "acme"), // no topic: no pair
			analyzed(post("feed", "4", "https://x.example/4", at(time.Minute)), "t2"),               // no brand
		}}
		commit(t, s, batch)
		commit(t, s, batch)
		// A different source re-delivering post 1 under its canonical URL is a duplicate too.
		dup := withBrands(analyzed(post("other", "9", "https://x.example/1?utm_source=x", at(0)), "t1"), "acme")
		commit(t, s, affinity.Batch{Source: "other", Posts: []affinity.AnalyzedPost{dup}})

		want := map[string]map[string]int64{
			"t1": {"acme": 1, "rival": 2},
			"t2": {"acme": 1, "rival": 1},
		}
		if got := brandTotals(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("brand totals = %v, want %v", got, want)
		}
		// They agree with a window over every stored post.
		ws := windows(t, s, at(-time.Hour), at(time.Hour))
		for topic, byBrand := range want {
			if !reflect.DeepEqual(ws[topic].Brands, byBrand) {
				t.Errorf("window brands of %q = %v, want %v", topic, ws[topic].Brands, byBrand)
			}
		}
	})
}

func TestBrandMentionTotalsSurvivePrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		var batch []affinity.AnalyzedPost
		for i := range 5 {
			p := post("feed", fmt.Sprint("old", i), fmt.Sprintf("https://x.example/old/%d", i), at(-48*time.Hour+time.Duration(i)*time.Second))
			batch = append(batch, withBrands(analyzed(p, "t"), "acme"))
		}
		batch = append(batch, withBrands(analyzed(post("feed", "keep", "https://x.example/keep", at(0)), "t"), "acme", "rival"))
		commit(t, s, affinity.Batch{Source: "feed", Posts: batch})

		if n, err := s.Prune(ctx, at(0)); err != nil || n != 5 {
			t.Fatalf("prune = %d, %v; want 5", n, err)
		}
		want := map[string]map[string]int64{"t": {"acme": 6, "rival": 1}}
		if got := brandTotals(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("brand totals after prune = %v, want %v (never lowered)", got, want)
		}
		// A pruned post fetched again is new, so it counts again (as topic_totals does).
		commit(t, s, affinity.Batch{Source: "feed", Posts: batch[:1]})
		want["t"]["acme"] = 7
		if got := brandTotals(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("brand totals after re-fetch = %v, want %v", got, want)
		}
	})
}

// TestMigration0003Backfill opens a database written at schema 2 (before
// topic_brand_totals) and checks the migration counts the stored mentions ⋈
// brand_mentions, and that Commit adds on top afterwards.
func TestMigration0003Backfill(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		dsn := d.newDSN(t)
		db := migratedTo(t, d, dsn, 2)
		for _, q := range []string{
			// Ids come from the database (1, 2, 3 on a new one), so its
			// sequence stays ahead of them for the commit below.
			`INSERT INTO posts (source, external_id, ts) VALUES ('feed', '1', 100), ('feed', '2', 200), ('feed', '3', 300)`,
			`INSERT INTO mentions (post_id, topic, ts) VALUES (1, 't1', 100), (1, 't2', 100), (2, 't1', 200)`,
			// Post 3 mentions a brand but matches no topic: it counts nowhere.
			`INSERT INTO brand_mentions (post_id, brand, ts) VALUES (1, 'acme', 100), (1, 'rival', 100), (2, 'acme', 200), (3, 'acme', 300)`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db.Close()

		s := d.mustOpen(t, dsn)
		want := map[string]map[string]int64{
			"t1": {"acme": 2, "rival": 1},
			"t2": {"acme": 1, "rival": 1},
		}
		if got := brandTotals(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("backfilled brand totals = %v, want %v", got, want)
		}
		commit(t, s, affinity.Batch{Source: "feed", Posts: []affinity.AnalyzedPost{
			withBrands(analyzed(post("feed", "4", "", time.Unix(400, 0)), "t2"), "rival"),
		}})
		want["t2"]["rival"] = 2
		if got := brandTotals(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("brand totals after a commit = %v, want %v", got, want)
		}
	})
}

// migratedTo returns the raw database at dsn with the migrations up to
// version applied, as an older affinityd left it.
func migratedTo(t *testing.T, d driver, dsn string, version int) *sql.DB {
	t.Helper()
	ms, err := d.migrations()
	if err != nil {
		t.Fatal(err)
	}
	var upTo []migration
	for _, m := range ms {
		if m.version <= version {
			upTo = append(upTo, m)
		}
	}
	db := d.raw(t, dsn)
	if err := d.migrate(context.Background(), db, upTo, discard()); err != nil {
		t.Fatal(err)
	}
	return db
}
