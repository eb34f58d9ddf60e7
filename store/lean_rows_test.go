package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// TestMigration0008KeepsRows opens a database written before 0008 (which
// rebuilds mentions, brand_mentions, post_terms and post_orgs) and checks
// every answer read from those rows is what it was, that commits add to
// them and that pruning still takes them away with their posts.
func TestMigration0008KeepsRows(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		dsn := d.newDSN(t)
		db := migratedTo(t, d, dsn, 7)
		ts := at(0).Unix()
		for _, q := range []string{
			`INSERT INTO posts (source, external_id, author, ts, format) VALUES ('src', '1', 'ann', ?, 'network'), ('src', '2', 'bob', ?, 'network')`,
			`INSERT INTO mentions (post_id, topic, format, author, ts, sentiment) VALUES (1, 't', 'network', 'ann', ?, 1), (2, 't', 'network', 'bob', ?, -1)`,
			`INSERT INTO brand_mentions (post_id, brand, ts) VALUES (1, 'acme', ?), (2, 'acme', ?)`,
			`INSERT INTO post_terms (post_id, term, display, ts) VALUES (1, 'widget', 'widgets', ?), (2, 'widget', 'widgets', ?)`,
			`INSERT INTO post_orgs (post_id, org, ts) VALUES (1, 'Globex', ?), (2, 'Globex', ?)`,
		} {
			if _, err := db.Exec(q, ts, ts+60); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if _, err := db.Exec(`INSERT INTO topic_totals (topic, format, mentions) VALUES ('t', 'network', 2)`); err != nil {
			t.Fatal(err)
		}
		db.Close()

		s := d.mustOpen(t, dsn)
		day := affinity.Window{From: at(-time.Hour), To: at(time.Hour)}
		check := func(when string, mentions, authors int64, terms, orgs []string) {
			t.Helper()
			w := windows(t, s, day.From, day.To)["t"]
			if w.Mentions != mentions || w.Authors != authors || w.Brands["acme"] != mentions {
				t.Errorf("%s: window = %d mentions, %d authors, brands %v; want %d, %d, acme %d",
					when, w.Mentions, w.Authors, w.Brands, mentions, authors, mentions)
			}
			gotTerms, err := s.TopicTerms(ctx, "t", day, 10)
			if err != nil {
				t.Fatal(err)
			}
			gotOrgs, err := s.TopicOrganisations(ctx, "t", day, 10)
			if err != nil {
				t.Fatal(err)
			}
			if g, o := terms2(gotTerms), names(gotOrgs); !reflect.DeepEqual(g, terms) || !reflect.DeepEqual(o, orgs) {
				t.Errorf("%s: terms %v, organisations %v; want %v, %v", when, g, o, terms, orgs)
			}
		}
		check("after the migration", 2, 2, []string{"widgets"}, []string{"Globex:2"})

		p := termPost("3", at(2*time.Minute), []string{"t"}, []string{"widget|widgets"}, []string{"Globex"})
		p.Post.Author = "cy"
		p.Analysis.Brands = []string{"acme"}
		commit(t, s, affinity.Batch{Source: "src", Posts: []affinity.AnalyzedPost{p}})
		check("after a commit", 3, 3, []string{"widgets"}, []string{"Globex:3"})

		// Posts 1 and 2 go; only post 3's rows stay.
		if n, err := s.Prune(ctx, at(90*time.Second)); err != nil || n != 2 {
			t.Fatalf("prune = %d, %v; want 2", n, err)
		}
		check("after pruning", 1, 1, []string{"widgets"}, []string{"Globex:1"})
	})
}

// terms2 is the display forms of tcs, in order.
func terms2(tcs []affinity.TermCount) []string {
	out := []string{}
	for _, tc := range tcs {
		out = append(out, tc.Term)
	}
	return out
}

// TestSQLiteRowsStillChecked: 0008 defers the foreign keys of mentions,
// brand_mentions, post_terms and post_orgs to COMMIT and makes NOT NULL
// fail the statement instead of undoing it (neither then needs a statement
// journal); a row without its post or with a NULL still fails its
// transaction, and nothing of it is stored.
func TestSQLiteRowsStillChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checked.db")
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		name, sql, want string
	}{
		{"mention of a missing post", `INSERT INTO mentions (post_id, topic, ts) VALUES (42, 't', 1)`, "FOREIGN KEY"},
		{"brand of a missing post", `INSERT INTO brand_mentions (post_id, brand, ts) VALUES (42, 'acme', 1)`, "FOREIGN KEY"},
		{"term of a missing post", `INSERT INTO post_terms (post_id, term, ts) VALUES (42, 'x', 1)`, "FOREIGN KEY"},
		{"organisation of a missing post", `INSERT INTO post_orgs (post_id, org, ts) VALUES (42, 'Globex', 1)`, "FOREIGN KEY"},
		{"NULL topic", `INSERT INTO mentions (post_id, topic, ts) VALUES (1, NULL, 1)`, "NOT NULL"},
		{"NULL term time", `INSERT INTO post_terms (post_id, term, ts) VALUES (1, 'x', NULL)`, "NOT NULL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.inTx(context.Background(), func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO posts (id, source, external_id, ts) VALUES (1, 's', '1', 1)`); err != nil {
					return err
				}
				_, err := tx.Exec(tt.sql)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("transaction error = %v, want a %s constraint failure", err, tt.want)
			}
			var n int
			if err := s.w.QueryRow(`SELECT COUNT(*) FROM posts`).Scan(&n); err != nil || n != 0 {
				t.Errorf("posts after the failed transaction = %d, %v; want 0", n, err)
			}
		})
	}
}
