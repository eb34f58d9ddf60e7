package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// bulkRows is the rows of one multi-row INSERT: a statement per row cost
// SQLite's and database/sql's per-call overhead ~700 times a batch, and
// 128 rows of up to 7 columns stay below 999 placeholders, the lowest
// limit any SQLite build has (PostgreSQL allows 65,535).
const bulkRows = 128

// bulkInsert gathers the rows of one table during a Commit and writes them
// bulkRows at a time: the full-size statement is prepared once per
// transaction, the remainder runs as a one-off statement at flush.
type bulkInsert struct {
	tx         *sql.Tx
	table      string // for errors
	head, tail string // "INSERT INTO t (a, b) VALUES", " ON CONFLICT ..."
	cols       int
	args       []any
	full       *sql.Stmt
}

// newBulkInsert writes into table's columns; tail follows the VALUES list.
func newBulkInsert(tx *sql.Tx, table string, columns []string, tail string) *bulkInsert {
	return &bulkInsert{tx: tx, table: table, cols: len(columns), tail: tail,
		head: "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES"}
}

// query is the statement for rows rows.
func (bi *bulkInsert) query(rows int) string {
	row := "(" + placeholders(bi.cols) + ")"
	return bi.head + " " + strings.TrimSuffix(strings.Repeat(row+",", rows), ",") + bi.tail
}

// add appends one row of cols values, writing a full statement's worth.
func (bi *bulkInsert) add(ctx context.Context, vals ...any) error {
	if len(vals) != bi.cols {
		return fmt.Errorf("%s: %d values for %d columns", bi.table, len(vals), bi.cols)
	}
	bi.args = append(bi.args, vals...)
	if len(bi.args) < bi.cols*bulkRows {
		return nil
	}
	if bi.full == nil {
		st, err := bi.tx.PrepareContext(ctx, bi.query(bulkRows))
		if err != nil {
			return fmt.Errorf("%s: %w", bi.table, err)
		}
		bi.full = st
	}
	if _, err := bi.full.ExecContext(ctx, bi.args...); err != nil {
		return fmt.Errorf("%s: %w", bi.table, err)
	}
	bi.args = bi.args[:0]
	return nil
}

// flush writes the rows still gathered.
func (bi *bulkInsert) flush(ctx context.Context) error {
	if len(bi.args) == 0 {
		return nil
	}
	if _, err := bi.tx.ExecContext(ctx, bi.query(len(bi.args)/bi.cols), bi.args...); err != nil {
		return fmt.Errorf("%s: %w", bi.table, err)
	}
	bi.args = bi.args[:0]
	return nil
}

func (bi *bulkInsert) close() {
	if bi.full != nil {
		bi.full.Close()
	}
}
