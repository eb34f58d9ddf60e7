package config

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Topics returns every topic of every relationship, in config order, each
// with its Relationship set.
func (c *Config) Topics() []Topic {
	var out []Topic
	for _, r := range c.Relationships {
		out = append(out, r.Topics...)
	}
	return out
}

// Brands returns the own brand first, then the competitors in config order.
func (c *Config) Brands() []Brand {
	return append([]Brand{c.Brand}, c.Competitors...)
}

// Topic finds a topic by name and the relationship it belongs to.
func (c *Config) Topic(name string) (Topic, Relationship, bool) {
	for _, r := range c.Relationships {
		for _, t := range r.Topics {
			if t.Name == name {
				return t, r, true
			}
		}
	}
	return Topic{}, Relationship{}, false
}

// QueryHash identifies what the topic matches: the first 12 hex digits of a
// SHA-256 over its terms and synonyms (one set: they count alike), its
// exclusions, its languages and its query (in canonical form), each trimmed, lower-cased, deduplicated and
// sorted. Reordering or recasing leaves it alone; any edit that can change
// what matches changes it, so a dashboard can tell a query edit from a real
// shift in presence.
func (t Topic) QueryHash() string {
	h := sha256.New()
	for _, section := range []struct {
		name  string
		items []string
	}{
		{"terms", slices.Concat(t.Terms, t.Synonyms)},
		{"exclude", t.Exclude},
		{"languages", t.Languages},
	} {
		set := make([]string, 0, len(section.items))
		for _, s := range section.items {
			if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
				set = append(set, s)
			}
		}
		slices.Sort(set)
		set = slices.Compact(set)
		// Length-prefixed items cannot run into each other or across
		// sections, whatever characters they hold.
		h.Write([]byte(section.name + ":" + strconv.Itoa(len(set)) + "\n"))
		for _, s := range set {
			h.Write([]byte(strconv.Itoa(len(s)) + ":" + s + "\n"))
		}
	}
	// Only a topic with a query hashes one, so the hashes of topics of
	// terms stay what they were before queries existed.
	if strings.TrimSpace(t.Query) != "" {
		q := t.canonicalQuery()
		h.Write([]byte("query:" + strconv.Itoa(len(q)) + ":" + q + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
