package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// ndRule is the default rule: 4 of 16 keys (similarity 0.5), 7 days.
var ndRule = affinity.NearDupRule{MinBands: 4, Horizon: 7 * 24 * time.Hour}

// ndKeys returns nearDupBands keys: the first shared of them are base's
// (what a close copy of base gets), the rest unique to seed.
func ndKeys(base, seed uint64, shared int) []uint64 {
	k := make([]uint64, nearDupBands)
	for i := range k {
		if i < shared {
			k[i] = base<<8 | uint64(i)
		} else {
			k[i] = seed<<32 | uint64(i) | 1<<63 // the top bit set: stored as a negative integer
		}
	}
	return k
}

func ndPost(id string, ts time.Time, keys []uint64, topics ...string) affinity.AnalyzedPost {
	ap := analyzed(post("feed", id, "https://news.example/"+id, ts), topics...)
	ap.Analysis.Brands = []string{"Acme"}
	ap.Analysis.NearDup = keys
	return ap
}

func TestNearDuplicatesCollapse(t *testing.T) {
	tests := []struct {
		name   string
		copyAt time.Duration // the second post's time after the original's
		shared int           // keys it shares with the original
		rule   affinity.NearDupRule
		copy   bool
	}{
		{"copy within horizon", 2 * time.Hour, 6, ndRule, true},
		{"copy published before its original", -3 * 24 * time.Hour, 4, ndRule, true},
		{"all keys shared", time.Minute, nearDupBands, ndRule, true},
		{"beyond horizon", 8 * 24 * time.Hour, nearDupBands, ndRule, false},
		{"different text", time.Hour, 3, ndRule, false},
		{"collapsing off", time.Hour, nearDupBands, affinity.NearDupRule{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s Store) {
				orig := ndPost("orig", at(0), ndKeys(1, 1, nearDupBands), "t")
				res := commit(t, s, affinity.Batch{Source: "feed", Posts: []affinity.AnalyzedPost{orig}, NearDup: tt.rule})
				if res.New != 1 || res.NearDuplicates != 0 {
					t.Fatalf("original: %+v", res)
				}
				cp := ndPost("copy", at(tt.copyAt), ndKeys(1, 2, tt.shared), "t")
				res = commit(t, s, affinity.Batch{Source: "feed", Posts: []affinity.AnalyzedPost{cp}, NearDup: tt.rule})
				// The earlier-dated of the two is the original, whichever
				// came first: a copy dated before the stored post demotes it.
				wantND, wantDemoted, wantMentions, first := 0, 0, 2, "orig"
				switch {
				case tt.copy && tt.copyAt < 0:
					wantDemoted, wantMentions, first = 1, 1, "copy"
				case tt.copy:
					wantND, wantMentions = 1, 1
				}
				if res.New != 1 || res.NearDuplicates != wantND || res.Demoted != wantDemoted {
					t.Errorf("copy commit: new %d near-duplicates %d demoted %d, want 1, %d and %d", res.New, res.NearDuplicates, res.Demoted, wantND, wantDemoted)
				}
				if got := totals(t, s)["t"][affinity.FormatNetwork]; got != int64(wantMentions) {
					t.Errorf("topic total = %d, want %d", got, wantMentions)
				}
				brands, err := s.BrandMentionTotals(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got := brands["t"]["Acme"]; got != int64(wantMentions) {
					t.Errorf("brand total = %d, want %d", got, wantMentions)
				}
				ws := windows(t, s, at(-10*24*time.Hour), at(10*24*time.Hour))
				if got := ws["t"].Mentions; got != int64(wantMentions) {
					t.Errorf("window mentions = %d, want %d", got, wantMentions)
				}
				ev, err := s.Evidence(context.Background(), "t", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(ev) != wantMentions {
					t.Fatalf("evidence = %v, want %d posts", ids(ev), wantMentions)
				}
				var firstCopies int64
				for _, p := range ev {
					if p.ID == first {
						firstCopies = p.Copies
					}
				}
				if want := int64(wantND + wantDemoted); firstCopies != want {
					t.Errorf("original %s has %d copies, want %d", first, firstCopies, want)
				}
				// The copy is stored: fetched again, it is an exact duplicate.
				fresh, dups, err := s.FilterNew(context.Background(), []affinity.Post{cp.Post})
				if err != nil || len(fresh) != 0 || dups != 1 {
					t.Errorf("copy fetched again: fresh %v dups %d err %v", ids(fresh), dups, err)
				}
			})
		})
	}
}

func TestNearDuplicatesWithinBatchTwiceAndRestart(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d driver) {
		dsn := d.newDSN(t)
		s := d.mustOpen(t, dsn)
		// A press release and three syndicated copies in one batch, and a
		// post without words (no keys), which is never collapsed.
		batch := affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{
			ndPost("pr", at(0), ndKeys(7, 1, nearDupBands), "t"),
			ndPost("copy1", at(time.Hour), ndKeys(7, 2, 12), "t"),
			ndPost("copy2", at(2*time.Hour), ndKeys(7, 3, 5), "t"),
			ndPost("emoji", at(2*time.Hour), nil, "t"),
			ndPost("copy3", at(3*time.Hour), ndKeys(7, 4, 9), "t"),
		}}
		res := commit(t, s, batch)
		if res.New != 5 || res.NearDuplicates != 3 || res.Mentions["t"][affinity.FormatNetwork] != 2 {
			t.Fatalf("first commit: %+v", res)
		}
		res = commit(t, s, batch)
		if res.New != 0 || res.Duplicates != 5 || res.NearDuplicates != 0 {
			t.Errorf("batch committed twice: %+v", res)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = d.mustOpen(t, dsn)
		if got := totals(t, s)["t"][affinity.FormatNetwork]; got != 2 {
			t.Errorf("after restart: topic total %d, want 2", got)
		}
		ev, err := s.Evidence(context.Background(), "t", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev) != 2 || ev[0].ID != "emoji" || ev[1].ID != "pr" || ev[1].Copies != 3 || ev[0].Copies != 0 {
			t.Fatalf("after restart: evidence %+v", ev)
		}
		// A later copy, after the restart, still finds its original.
		res = commit(t, s, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{
			ndPost("copy4", at(24*time.Hour), ndKeys(7, 5, 4), "t"),
		}})
		if res.NearDuplicates != 1 {
			t.Errorf("copy after restart: %+v", res)
		}
		if ev, _ := s.Evidence(context.Background(), "t", 10); len(ev) != 2 || ev[1].Copies != 4 {
			t.Errorf("copies after restart: %+v", ev)
		}
		// Pruning the original removes its keys: a new copy starts over.
		if _, err := s.Prune(context.Background(), at(30*time.Hour)); err != nil {
			t.Fatal(err)
		}
		res = commit(t, s, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{
			ndPost("copy5", at(26*time.Hour), ndKeys(7, 6, 8), "t"),
		}})
		if res.NearDuplicates != 0 || res.New != 1 {
			t.Errorf("copy of a pruned original: %+v", res)
		}
	})
}

func TestNearDupPlaceholders(t *testing.T) {
	// Per key: key, ts and a bound for each of the two ranges; then MinBands.
	if n, want := strings.Count(findOriginalSQL, "?"), 6*nearDupBands+1; n != want {
		t.Errorf("lookup: %d placeholders, want %d", n, want)
	}
	if n, want := strings.Count(insertNearDupKeysSQL, "?"), 3*nearDupBands; n != want {
		t.Errorf("record: %d placeholders, want %d", n, want)
	}
}

// TestNearDupCommonKeyKeepsRealCopy: boilerplate gives thousands of posts a
// few keys in common; the lookup reads only the nearest nearDupNearest posts
// per key, and the posts of the boilerplate, newer than the original, fill
// those for the common keys. The copy still finds its original through the
// rare keys they share, and the boilerplate posts, which share only the
// common keys, stay originals.
func TestNearDupCommonKeyKeepsRealCopy(t *testing.T) {
	const common, crowd = 3, 4 * nearDupNearest
	withCommon := func(keys []uint64) []uint64 {
		for i := range common {
			keys[i] = 0xB011E4<<8 | uint64(i) // the same in every post
		}
		return keys
	}
	forEachStore(t, func(t *testing.T, s Store) {
		orig := ndPost("orig", at(-3*24*time.Hour), withCommon(ndKeys(9, 9, nearDupBands)), "t")
		posts := []affinity.AnalyzedPost{orig}
		for i := range crowd {
			// Around the copy's time, on both sides of it, all within the horizon.
			ts := at(time.Duration(i-crowd/2) * time.Minute)
			posts = append(posts, ndPost(fmt.Sprint("tpl", i), ts, withCommon(ndKeys(uint64(100+i), uint64(100+i), 0)), "t"))
		}
		res := commit(t, s, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: posts})
		if res.New != crowd+1 || res.NearDuplicates != 0 {
			t.Fatalf("boilerplate posts: %+v, want %d originals", res, crowd+1)
		}
		// The copy shares the common keys and four rare ones with orig:
		// exactly ndRule.MinBands of the keys no other post holds.
		cp := ndPost("copy", at(0), withCommon(ndKeys(9, 10, common+ndRule.MinBands)), "t")
		res = commit(t, s, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{cp}})
		if res.NearDuplicates != 1 {
			t.Fatalf("copy: %+v, want it collapsed into orig", res)
		}
		ev, err := s.Evidence(context.Background(), "t", crowd+2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ev {
			if want := int64(0); p.ID == "orig" {
				want = 1
				if p.Copies != want {
					t.Errorf("orig has %d copies, want %d", p.Copies, want)
				}
			} else if p.Copies != want {
				t.Errorf("%s has %d copies, want %d", p.ID, p.Copies, want)
			}
		}
		if len(ev) != crowd+1 {
			t.Errorf("evidence: %d posts, want %d (the copy is not one)", len(ev), crowd+1)
		}
	})
}

// TestNearDupLookupUsesKeyRanges: each key's candidates must be a range of
// the (key, ts, post_id) primary key, read in time order and cut at the
// bound; a scan or a sort would make the lookup grow with the store again.
func TestNearDupLookupUsesKeyRanges(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "plan.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lookUpInSQL(t, s)
	args := make([]any, 0, 6*nearDupBands+1)
	for k := range nearDupBands {
		args = append(args, k, 100, 0, k, 100, 200)
	}
	args = append(args, 4)
	searches := 0
	for _, detail := range queryPlan(t, s.r, findOriginalSQL, args...) {
		if !strings.Contains(detail, "post_neardup_keys") {
			continue
		}
		if !strings.HasPrefix(detail, "SEARCH post_neardup_keys USING PRIMARY KEY (key=? AND ts") {
			t.Errorf("plan step %q, want a search of the primary key by key and ts", detail)
		}
		searches++
	}
	if searches != 2*nearDupBands {
		t.Errorf("%d searches of post_neardup_keys, want %d", searches, 2*nearDupBands)
	}
}

// TestNearDuplicatesIndependentOfOrder commits one set of posts in many
// orders, one post per commit and all in one batch: the originals, the
// windows, the copy counts and the totals of a set of mutual copies are the
// same every time. The set holds a press release with two copies, one dated
// before it (so whoever arrives first, the earliest becomes the original),
// and a chain X~Y~Z where X and Z share nothing: Y is a copy of X and Z of Y
// (an earlier similar post), so X alone counts.
func TestNearDuplicatesIndependentOfOrder(t *testing.T) {
	keys := func(parts ...uint64) []uint64 { // four keys per part
		k := make([]uint64, 0, nearDupBands)
		for _, p := range parts {
			for i := range 4 {
				k = append(k, p<<8|uint64(len(k)+i))
			}
		}
		return k
	}
	forEachStore(t, func(t *testing.T, s Store) {
		rng := rand.New(rand.NewPCG(1, 2))
		for perm := range 12 {
			b := uint64(perm+1) << 20 // keys of this round only
			r, x, l := fmt.Sprint("r", perm), fmt.Sprint("x", perm), fmt.Sprint("l", perm)
			id := func(name string) string { return fmt.Sprintf("p%d-%s", perm, name) }
			posts := []affinity.AnalyzedPost{
				ndPost(id("pr"), at(0), keys(b|1, b|2, b|3, b|4), r),
				ndPost(id("copy-later"), at(time.Hour), keys(b|1, b|2, b|3, b|5), r),
				ndPost(id("copy-earlier"), at(-30*time.Minute), keys(b|1, b|2, b|6, b|7), r),
				ndPost(id("X"), at(0), keys(b|10, b|11, b|12, b|13), x),
				ndPost(id("Y"), at(time.Hour), keys(b|10, b|14, b|15, b|16), x),
				ndPost(id("Z"), at(2*time.Hour), keys(b|17, b|14, b|18, b|19), x),
				ndPost(id("lone"), at(0), keys(b|20, b|21, b|22, b|23), l),
			}
			rng.Shuffle(len(posts), func(i, j int) { posts[i], posts[j] = posts[j], posts[i] })
			if perm%2 == 0 {
				for _, p := range posts {
					commit(t, s, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: []affinity.AnalyzedPost{p}})
				}
			} else {
				commit(t, s, affinity.Batch{Source: "feed", NearDup: ndRule, Posts: posts})
			}
			var order []string
			for _, p := range posts {
				order = append(order, p.Post.ID)
			}
			ws := windows(t, s, at(-24*time.Hour), at(24*time.Hour))
			for topic, want := range map[string]int64{r: 1, x: 1, l: 1} {
				if got := ws[topic].Mentions; got != want {
					t.Errorf("order %v: window mentions of %s = %d, want %d", order, topic, got, want)
				}
			}
			for topic, want := range map[string]string{r: id("copy-earlier") + "+2", x: id("X") + "+2", l: id("lone") + "+0"} {
				ev, err := s.Evidence(context.Background(), topic, 10)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, p := range ev {
					got = append(got, fmt.Sprintf("%s+%d", p.ID, p.Copies))
				}
				if len(got) != 1 || got[0] != want {
					t.Errorf("order %v: evidence of %s = %v, want [%s]", order, topic, got, want)
				}
			}
			// Mutual copies count once in the durable totals, in any order.
			// In the chain, Z stored before Y counted as an original until Y
			// came; a total never falls, so x may keep 2.
			tot := totals(t, s)
			if got := tot[r][affinity.FormatNetwork]; got != 1 {
				t.Errorf("order %v: total of %s = %d, want 1", order, r, got)
			}
			if got := tot[x][affinity.FormatNetwork]; got < 1 || got > 2 {
				t.Errorf("order %v: total of %s = %d, want 1 or 2", order, x, got)
			}
			brands, err := s.BrandMentionTotals(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := brands[r]["Acme"]; got != 1 {
				t.Errorf("order %v: brand total of %s = %d, want 1", order, r, got)
			}
		}
	})
}
