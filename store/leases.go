package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Leases divides work among replicas sharing one database: a name (a
// source, "scoring") is held by one holder until its lease expires. The
// holder claims again (or renews) before expiry to keep it; once it lapses
// (the holder died or stopped renewing) the next claim of another holder
// takes it over.
type Leases interface {
	// Claim takes or extends the leases of names for holder until now+ttl
	// and returns the names it holds now; a name another holder holds
	// unexpired is left out.
	Claim(ctx context.Context, holder string, names []string, ttl time.Duration) ([]string, error)
	// Renew extends only the leases holder still has and returns those; a
	// name missing from the result was taken over (or released).
	Renew(ctx context.Context, holder string, names []string, ttl time.Duration) ([]string, error)
	// Release gives up holder's leases of names at once (a clean shutdown
	// hands its work over without waiting for expiry); others' are untouched.
	Release(ctx context.Context, holder string, names []string) error
}

// Replicas is what replicas sharing a store's database coordinate through:
// Leases on its leases table and the stored scoring snapshot (snapshots.go),
// with the same SQL on SQLite and PostgreSQL. Each lease name is a statement
// of its own: leases are independent, so nothing waits on a transaction over
// many rows and replicas claiming in different orders cannot deadlock.
type Replicas struct {
	db *sql.DB
	// Now is the clock expiries are computed from (time.Now; tests set it).
	// Replicas compare each other's expiries, so their clocks must agree to
	// well within a lease (NTP does).
	Now func() time.Time
}

var _ Leases = (*Replicas)(nil)

// ReplicasOf returns the coordination of the database s is open on.
func ReplicasOf(s Store) (*Replicas, error) {
	switch s := s.(type) {
	case *SQLite:
		return &Replicas{db: s.w, Now: time.Now}, nil
	case *Postgres:
		return &Replicas{db: s.w, Now: time.Now}, nil
	default:
		return nil, fmt.Errorf("store: leases: unknown store %T", s)
	}
}

// claimLease inserts the lease, or takes the row over when it is the
// holder's own or has expired. On PostgreSQL the conflicting row is locked
// and the WHERE re-checked on its newest version, so of two replicas racing
// for an expired lease exactly one gets a row back.
const claimLease = `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
RETURNING name`

// Claim implements Leases.
func (l *Replicas) Claim(ctx context.Context, holder string, names []string, ttl time.Duration) ([]string, error) {
	now := l.Now()
	return l.each(ctx, "claim", names, claimLease, func(name string) []any {
		return []any{name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli()}
	})
}

// Renew implements Leases.
func (l *Replicas) Renew(ctx context.Context, holder string, names []string, ttl time.Duration) ([]string, error) {
	until := l.Now().Add(ttl).UnixMilli()
	return l.each(ctx, "renew", names, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? RETURNING name`,
		func(name string) []any { return []any{until, name, holder} })
}

// Release implements Leases.
func (l *Replicas) Release(ctx context.Context, holder string, names []string) error {
	for _, name := range names {
		if _, err := l.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
			return fmt.Errorf("store: release lease %q: %w", name, err)
		}
	}
	return nil
}

// each runs query for every name and returns the names it returned a row for.
func (l *Replicas) each(ctx context.Context, what string, names []string, query string, args func(string) []any) ([]string, error) {
	var held []string
	for _, name := range names {
		var got string
		err := l.db.QueryRowContext(ctx, query, args(name)...).Scan(&got)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return held, fmt.Errorf("store: %s lease %q: %w", what, name, err)
		default:
			held = append(held, name)
		}
	}
	return held, nil
}

// LeaseHolder returns who holds name's lease and until when; ok is false
// when nobody holds it or the lease expired.
func (l *Replicas) LeaseHolder(ctx context.Context, name string) (holder string, until time.Time, ok bool, err error) {
	var ms int64
	err = l.db.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&holder, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("store: lease %q: %w", name, err)
	}
	until = time.UnixMilli(ms)
	return holder, until, l.Now().Before(until), nil
}

// Holders counts the unexpired leases whose names start with prefix, per
// holder: the live replicas and how much work each holds, for balancing.
func (l *Replicas) Holders(ctx context.Context, prefix string) (map[string]int, error) {
	return byHolder[int](ctx, l.db, "lease holders", `SELECT holder, COUNT(*) FROM leases WHERE name LIKE ? ESCAPE '\' AND expires_at > ? GROUP BY holder`,
		likePrefix(prefix), l.Now().UnixMilli())
}

// byHolder runs query, whose rows are (holder, value), into a map.
func byHolder[V any](ctx context.Context, db *sql.DB, what, query string, args ...any) (map[string]V, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	out := map[string]V{}
	for rows.Next() {
		var h string
		var v V
		if err := rows.Scan(&h, &v); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out[h] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// likePrefix is a LIKE pattern matching prefix literally (ESCAPE '\').
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

// announceReplica is claimLease for a replica's presence, carrying the hash
// of the configuration it runs (migration 0006).
const announceReplica = `INSERT INTO leases (name, holder, expires_at, config_hash) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, config_hash = excluded.config_hash
WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`

// ReplicaPrefix starts the lease name of a replica's presence: "replica:ID".
const ReplicaPrefix = "replica:"

// Announce records holder as a live replica running the configuration
// configHash until now+ttl: its presence lease, which Holders(ReplicaPrefix)
// counts and ConfigHashes reads.
func (l *Replicas) Announce(ctx context.Context, holder, configHash string, ttl time.Duration) error {
	now := l.Now()
	if _, err := l.db.ExecContext(ctx, announceReplica, ReplicaPrefix+holder, holder, now.Add(ttl).UnixMilli(), configHash, now.UnixMilli()); err != nil {
		return fmt.Errorf("store: announce replica %q: %w", holder, err)
	}
	return nil
}

// ConfigHashes returns the configuration hash of every live replica, by
// holder.
func (l *Replicas) ConfigHashes(ctx context.Context) (map[string]string, error) {
	return byHolder[string](ctx, l.db, "replica configs", `SELECT holder, config_hash FROM leases WHERE name LIKE ? ESCAPE '\' AND expires_at > ?`,
		likePrefix(ReplicaPrefix), l.Now().UnixMilli())
}
