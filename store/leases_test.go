package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/affinityd/affinityd/affinity"
)

// leasesAt returns the leases of s on a clock the test moves.
func leasesAt(t *testing.T, s Store, now *time.Time) *Replicas {
	t.Helper()
	l, err := ReplicasOf(s)
	if err != nil {
		t.Fatal(err)
	}
	l.Now = func() time.Time { return *now }
	return l
}

func TestLeases(t *testing.T) {
	ctx := context.Background()
	names := []string{"source:a", "source:b", "scoring"}
	const ttl = 10 * time.Second
	forEachStore(t, func(t *testing.T, s Store) {
		now := t0
		l := leasesAt(t, s, &now)
		claim := func(holder string, names ...string) []string {
			t.Helper()
			got, err := l.Claim(ctx, holder, names, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		renew := func(holder string, names ...string) []string {
			t.Helper()
			got, err := l.Renew(ctx, holder, names, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}

		if got := claim("A", names...); !slices.Equal(got, names) {
			t.Fatalf("A's first claim = %v, want all of %v", got, names)
		}
		if got := claim("B", names...); len(got) != 0 {
			t.Errorf("B's claim of A's live leases = %v, want none", got)
		}
		if got := claim("B", "source:c"); !slices.Equal(got, []string{"source:c"}) {
			t.Errorf("B's claim of a free name = %v", got)
		}
		if got := renew("B", "source:a"); len(got) != 0 {
			t.Errorf("B renewed A's lease: %v", got)
		}

		// A renews (its claim again, or Renew) and keeps the names past the first expiry.
		now = t0.Add(8 * time.Second)
		if got := renew("A", "source:a", "source:b"); !slices.Equal(got, []string{"source:a", "source:b"}) {
			t.Errorf("A's renew = %v", got)
		}
		if got := claim("A", "scoring"); !slices.Equal(got, []string{"scoring"}) {
			t.Errorf("A's claim of its own lease = %v", got)
		}
		now = t0.Add(15 * time.Second) // past the first expiry, before the renewed one
		if got := claim("B", names...); len(got) != 0 {
			t.Errorf("B's claim after A renewed = %v, want none", got)
		}
		if h, until, ok, err := l.LeaseHolder(ctx, "source:a"); err != nil || !ok || h != "A" || !until.Equal(t0.Add(18*time.Second)) {
			t.Errorf("LeaseHolder(source:a) = %q, %v, %v, %v; want A until t0+18s", h, until, ok, err)
		}

		if got, err := l.Holders(ctx, "source:"); err != nil || !reflect.DeepEqual(got, map[string]int{"A": 2}) {
			t.Errorf("Holders(source:) = %v, %v; want A with 2 (B's source:c expired)", got, err)
		}
		if got, err := l.Holders(ctx, "sc"); err != nil || !reflect.DeepEqual(got, map[string]int{"A": 1}) {
			t.Errorf("Holders(sc) = %v, %v; want A with scoring", got, err)
		}
		if got, err := l.Holders(ctx, "source_"); err != nil || len(got) != 0 {
			t.Errorf("Holders(source_) = %v, %v; want none (_ is literal)", got, err)
		}

		// A stops renewing: once expired, B takes over and A has lost it.
		now = t0.Add(18 * time.Second)
		if got := claim("B", "source:a"); !slices.Equal(got, []string{"source:a"}) {
			t.Errorf("B's claim of an expired lease = %v, want it taken over", got)
		}
		if got := renew("A", "source:a"); len(got) != 0 {
			t.Errorf("A renewed a lease B took over: %v", got)
		}
		if got := claim("A", "source:a"); len(got) != 0 {
			t.Errorf("A reclaimed B's live lease: %v", got)
		}

		// Release frees at once, and only the releaser's own leases.
		if err := l.Release(ctx, "A", names); err != nil {
			t.Fatal(err)
		}
		if h, _, ok, _ := l.LeaseHolder(ctx, "source:a"); !ok || h != "B" {
			t.Errorf("A's release dropped B's lease: holder %q, held %v", h, ok)
		}
		if got := claim("C", "source:b", "scoring"); !slices.Equal(got, []string{"source:b", "scoring"}) {
			t.Errorf("C's claim after A released = %v", got)
		}
	})
}

// TestReplicaConfigHashes: each live replica's presence carries its
// configuration hash; a re-announce updates it, an expired replica drops out.
func TestReplicaConfigHashes(t *testing.T) {
	ctx := context.Background()
	const ttl = 10 * time.Second
	forEachStore(t, func(t *testing.T, s Store) {
		now := t0
		l := leasesAt(t, s, &now)
		hashes := func() map[string]string {
			t.Helper()
			got, err := l.ConfigHashes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		for _, a := range []struct{ holder, hash string }{{"A", "aaa"}, {"B", "aaa"}, {"C", "ccc"}} {
			if err := l.Announce(ctx, a.holder, a.hash, ttl); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Claim(ctx, "A", []string{"source:x"}, ttl); err != nil {
			t.Fatal(err)
		}
		if got, want := hashes(), map[string]string{"A": "aaa", "B": "aaa", "C": "ccc"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ConfigHashes = %v, want %v (sources are not replicas)", got, want)
		}
		if got, err := l.Holders(ctx, ReplicaPrefix); err != nil || len(got) != 3 {
			t.Errorf("Holders(replica:) = %v, %v; want the three announced", got, err)
		}
		// C is rolled out with A's configuration; B stops announcing.
		now = t0.Add(8 * time.Second)
		for _, a := range []struct{ holder, hash string }{{"A", "aaa"}, {"C", "aaa"}} {
			if err := l.Announce(ctx, a.holder, a.hash, ttl); err != nil {
				t.Fatal(err)
			}
		}
		now = t0.Add(12 * time.Second)
		if got, want := hashes(), map[string]string{"A": "aaa", "C": "aaa"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ConfigHashes after C's rollout and B's expiry = %v, want %v", got, want)
		}
	})
}

// TestLeasesRace has replicas, each on its own connection pool, race for
// the same expired leases round after round: every name goes to exactly one.
func TestLeasesRace(t *testing.T) {
	const replicas, rounds, ttl = 4, 15, time.Minute
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("source:%02d", i))
	}
	forEachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		dsn := d.newDSN(t)
		now := make([]time.Time, replicas)
		ls := make([]*Replicas, replicas)
		for i := range replicas {
			ls[i] = leasesAt(t, d.mustOpen(t, dsn), &now[i])
		}
		for r := range rounds {
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				owners = map[string][]string{}
				start  = make(chan struct{})
			)
			for i := range replicas {
				now[i] = t0.Add(time.Duration(r) * 2 * ttl) // every lease of the last round expired
				holder := fmt.Sprintf("replica-%d", i)
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					order := slices.Clone(names)
					if i%2 == 1 {
						slices.Reverse(order) // opposite orders must not deadlock
					}
					got, err := ls[i].Claim(ctx, holder, order, ttl)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, n := range got {
						owners[n] = append(owners[n], holder)
					}
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			for _, n := range names {
				if len(owners[n]) != 1 {
					t.Fatalf("round %d: %s held by %v, want exactly one holder", r, n, owners[n])
				}
			}
		}
	})
}

func TestStoredSnapshot(t *testing.T) {
	ctx := context.Background()
	forEachStore(t, func(t *testing.T, s Store) {
		now := t0
		r := leasesAt(t, s, &now)
		if _, _, ok, err := r.LatestSnapshot(ctx); ok || err != nil {
			t.Fatalf("LatestSnapshot of a new database: ok %v, err %v; want none", ok, err)
		}
		snap := func(at time.Time, mentions int64) *affinity.Snapshot {
			return &affinity.Snapshot{Computed: at, Window: affinity.Window{From: at.Add(-time.Hour), To: at},
				Topics: []affinity.TopicScore{{Topic: "t1", Mentions: mentions, Score: 0.25,
					FormatMentions: map[affinity.Format]int64{affinity.FormatNetwork: mentions},
					ShareOfVoice:   map[string]float64{"acme": 0.5}}},
				MentionTotals: map[string]map[affinity.Format]int64{"t1": {affinity.FormatNetwork: 9}}}
		}
		newer := snap(t0.Add(time.Minute), 7)
		if err := r.SaveSnapshot(ctx, "A", snap(t0, 3)); err != nil {
			t.Fatal(err)
		}
		if err := r.SaveSnapshot(ctx, "B", newer); err != nil {
			t.Fatal(err)
		}
		// A deposed leader's late write of an older pass is ignored.
		if err := r.SaveSnapshot(ctx, "A", snap(t0.Add(30*time.Second), 5)); err != nil {
			t.Fatal(err)
		}
		got, holder, ok, err := r.LatestSnapshot(ctx)
		if err != nil || !ok {
			t.Fatalf("LatestSnapshot: ok %v, err %v", ok, err)
		}
		if holder != "B" || !reflect.DeepEqual(got, newer) {
			t.Errorf("LatestSnapshot = %q, %+v; want B's %+v", holder, got, newer)
		}
	})
}
