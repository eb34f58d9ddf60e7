package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file. Its text reads
// "FILE:LINE: FIELD: MSG", the form editors and CI logs turn into links.
type Error struct {
	File  string // the file as given to Load or Parse; "" prints as "<config>"
	Line  int    // 1-based line of the offending key or list item; 0 when unknown
	Field string // path like relationships[0].topics[1].terms; "" for YAML syntax errors
	Msg   string // what is wrong
}

// Error returns "FILE:LINE: FIELD: MSG", leaving out LINE and FIELD when unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(displayName(e.File))
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns every *Error inside err, in the order Parse reported them
// (by line). It returns nil when err holds none.
func Errors(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{e}
	case interface{ Unwrap() []error }:
		var out []*Error
		for _, inner := range e.Unwrap() {
			out = append(out, Errors(inner)...)
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// displayName names an unnamed input (the embedded demo) in messages.
func displayName(file string) string {
	if file == "" {
		return "<config>"
	}
	return file
}

// joinErrors orders errors by line, keeping the order of discovery on one
// line, so the user can fix the file from the top.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
