package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Load reads, defaults and validates the configuration file at path.
// Errors from the file's content are *Error values joined with errors.Join;
// see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes, defaults and validates a configuration; file names it in
// messages, sets Config.File and anchors relative replay paths ("" for input
// that has no file, such as the embedded demo).
//
// It works in two passes, like a compiler: first the YAML is decoded strictly
// (syntax, unknown keys, wrong types, duplicate keys), then defaults are
// applied and the values are validated. Each pass reports all its errors,
// ordered by line, as *Error values joined with errors.Join; semantic checks
// run only once the file decodes, so a typo never cascades into false alarms.
func Parse(data []byte, file string) (*Config, error) {
	return parse(data, file, file != "")
}

// parse is Parse with the choice of anchoring relative replay paths at the
// file's directory; input named for messages but not on disk (the embedded
// demo, whose paths name files of an embed.FS) passes false.
func parse(data []byte, file string, anchorPaths bool) (*Config, error) {
	root, err := parseYAML(data, file)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file, lines: map[string]int{"": 1}, budget: maxNodes}
	cfg := &Config{}
	if root != nil {
		d.lines[""] = root.Line
		d.value(root, reflect.ValueOf(cfg).Elem(), "")
	}
	if len(d.errs) > 0 {
		return nil, joinErrors(d.errs)
	}
	cfg.File = file
	applyDefaults(cfg, d.isSet)
	v := &validator{file: file, lines: d.lines}
	v.expand(cfg)
	v.validate(cfg)
	if len(v.errs) > 0 {
		return nil, joinErrors(v.errs)
	}
	cfg.resolve(anchorPaths)
	return cfg, nil
}

// resolve fills what is derived from a valid config: each topic's
// relationship, and replay paths and secret files anchored at the config
// file, so the daemon finds its files whatever its working directory.
func (c *Config) resolve(anchorPaths bool) {
	for i := range c.Relationships {
		r := &c.Relationships[i]
		for j := range r.Topics {
			t := &r.Topics[j]
			t.Relationship = r.Name
			if t.Query != "" {
				t.Expr, _ = ParseQuery(t.Query) // valid: validate parsed it
			}
		}
	}
	if !anchorPaths {
		return
	}
	dir := filepath.Dir(c.File)
	anchor := func(path *string) {
		if *path != "" && !filepath.IsAbs(*path) {
			*path = filepath.Join(dir, *path)
		}
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Kind == "replay" {
			anchor(&s.Path)
		}
		anchor(&s.Token.File)
		anchor(&s.ClientSecret.File)
		anchor(&s.AppPassword.File)
	}
	anchor(&c.Store.DSN.File)
}

// maxNodes bounds the nodes visited, so aliases of aliases (a "billion
// laughs" file) cannot make a reload spin.
const maxNodes = 1_000_000

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the root node of the only document in data, nil for an
// empty document.
func parseYAML(data []byte, file string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(data, file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &Error{File: file, Line: next.Line, Msg: "invalid YAML: only one document allowed"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(data, file, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError turns yaml's "yaml: line N: msg" into an *Error with the
// line where the problem is.
//
// yaml.v3 counts lines from 0 for parser errors (an unclosed list, a missing
// key) and from 1 for scanner errors, and leaves "line N" out when the 0-based
// line is 0 or for a bad character; parserProblems tells the two apart.
func syntaxError(data []byte, file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblems[m[2]] {
			line++
		}
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	line := 1
	if strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") {
		line = badCharLine(data) // the reader's errors carry no position
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// parserProblems are the messages yaml.v3's parser (not its scanner) gives.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// badCharLine is the line of the first character YAML refuses (invalid
// UTF-8 or a control character), or 1 when there is none.
func badCharLine(data []byte) int {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r == 0x7f, r >= 0x80 && r < 0xa0 && r != 0x85,
			r == 0xfffe, r == 0xffff:
			return line
		case r == '\n':
			line++
		}
		data = data[size:]
	}
	return 1
}

// decoder fills the config types from a node tree. Walking the nodes itself,
// instead of yaml's Decode, lets every error carry its field path and line,
// lets all of them be reported at once, and records which keys were written
// so defaults apply only to what the user left out.
type decoder struct {
	file   string
	lines  map[string]int // field path → line of its key or list item
	errs   []*Error
	budget int
}

func (d *decoder) errorf(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// isSet reports whether the file has a key (or list item) at path.
func (d *decoder) isSet(path string) bool {
	_, ok := d.lines[path]
	return ok
}

var (
	durationType = reflect.TypeFor[model.Duration]()
	bytesType    = reflect.TypeFor[Bytes]()
	secretType   = reflect.TypeFor[Secret]()
)

// value decodes n into v; field is v's path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, field string) {
	if d.budget--; d.budget == 0 {
		d.errorf(n.Line, field, "too many nodes (more than %d, aliases included)", maxNodes)
	}
	if d.budget <= 0 {
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, field)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, field)
	default:
		d.scalar(n, v, field)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, field string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		if v.Type() == secretType {
			// Never echo what is here: it is likely the secret itself.
			d.errorf(n.Line, field, "expected a mapping with env or file, got a %s; the secret itself never goes in the config",
				map[bool]string{true: "list", false: "plain value"}[n.Kind == yaml.SequenceNode])
			return
		}
		d.errorf(n.Line, field, "expected a mapping, got %s", describe(n))
		return
	}
	fields, names := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		path := joinField(field, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, field, "expected a field name, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, path, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k.Line, path, "unknown field%s", suggest(k.Value, names))
			continue
		}
		d.lines[path] = k.Line
		d.value(val, v.Field(idx), path)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, field string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, field, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		path := field + "[" + strconv.Itoa(i) + "]"
		d.lines[path] = item.Line
		d.value(item, s.Index(i), path)
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, field, "expected %s, got %s", kindName(v.Type()), describe(n))
		return
	}
	if isNull(n) {
		return // the zero value; validation says when it is not allowed
	}
	switch {
	case v.Type() == durationType:
		dur, err := model.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n.Line, field, "invalid duration %q (want e.g. 30s, 15m, 7d)", n.Value)
			return
		}
		v.Set(reflect.ValueOf(dur))
	case v.Type() == bytesType:
		var b Bytes
		if err := b.UnmarshalYAML(n); err != nil {
			d.errorf(n.Line, field, "%s", err)
			return
		}
		v.Set(reflect.ValueOf(b))
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	default:
		// int, float64 and bool: yaml's own scalar rules (0x10, 1e3, true).
		p := reflect.New(v.Type())
		if err := n.Decode(p.Interface()); err != nil {
			d.errorf(n.Line, field, "invalid %s %q", kindName(v.Type()), n.Value)
			return
		}
		v.Set(p.Elem())
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	default:
		return t.String()
	}
}

// fieldsOf maps a struct's yaml keys to field indexes; names lists the keys
// in declaration order for "unknown field" hints.
func fieldsOf(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// suggest points at the nearest known key for a typo ("topcs"), or lists the
// keys allowed here when nothing is close.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		// Close enough to be a typo: at most 2 edits, and not half the key
		// (so "id" does not suggest "kind").
		if dist := editDistance(strings.ToLower(key), n); dist < bestDist && 2*dist <= len(key) {
			best, bestDist = n, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (allowed: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
