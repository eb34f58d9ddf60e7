package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/affinityd/affinityd/affinity"
)

// SaveSnapshot stores snap as the latest scoring snapshot, computed by
// holder, for the other replicas to serve. An older snapshot never replaces
// a newer one, so a leader that lost its lease mid-pass cannot roll back
// its successor's.
func (l *Replicas) SaveSnapshot(ctx context.Context, holder string, snap *affinity.Snapshot) error {
	body, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	if _, err := l.db.ExecContext(ctx, `INSERT INTO scoring_snapshots (id, computed_at, holder, body) VALUES (1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET computed_at = excluded.computed_at, holder = excluded.holder, body = excluded.body
WHERE scoring_snapshots.computed_at <= excluded.computed_at`, snap.Computed.UnixMilli(), holder, string(body)); err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	return nil
}

// LatestSnapshot returns the latest stored scoring snapshot and the replica
// that computed it; ok is false when none is stored yet.
func (l *Replicas) LatestSnapshot(ctx context.Context) (snap *affinity.Snapshot, holder string, ok bool, err error) {
	var body string
	err = l.db.QueryRowContext(ctx, `SELECT holder, body FROM scoring_snapshots WHERE id = 1`).Scan(&holder, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("store: latest snapshot: %w", err)
	}
	snap = new(affinity.Snapshot)
	if err := json.Unmarshal([]byte(body), snap); err != nil {
		return nil, "", false, fmt.Errorf("store: latest snapshot: %w", err)
	}
	return snap, holder, true, nil
}
