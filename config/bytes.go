package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/units"
	"go.yaml.in/yaml/v3"
)

// Sizes in bytes, for code and tests that set a Bytes.
const (
	KiB Bytes = 1 << (10 * (iota + 1))
	MiB
	GiB
)

// UnmarshalYAML accepts a plain number of bytes or a number with a unit:
// KiB, MiB, GiB… are powers of 1024 and KB, MB, GB… powers of 1000, as the
// units read (units.ParseStrictBytes). Negative sizes are rejected.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if n.Kind != yaml.ScalarNode || s == "" {
		return fmt.Errorf("invalid size %q (want e.g. 10MiB, 512KiB, 1MB or a number of bytes)", n.Value)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		v, err = units.ParseStrictBytes(s)
	}
	if err != nil || v < 0 {
		return fmt.Errorf("invalid size %q (want e.g. 10MiB, 512KiB, 1MB or a number of bytes)", n.Value)
	}
	*b = Bytes(v)
	return nil
}

// MarshalYAML writes the size as String does, so a dumped config reads back
// to the same value.
func (b Bytes) MarshalYAML() (any, error) {
	return b.String(), nil
}

// String writes the size in the largest unit that divides it exactly,
// preferring binary units: 10MiB, 1MB, 1500B.
func (b Bytes) String() string {
	if b == 0 {
		return "0B"
	}
	for _, u := range []struct {
		size Bytes
		name string
	}{
		{1 << 60, "EiB"}, {1 << 50, "PiB"}, {1 << 40, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"},
		{1e18, "EB"}, {1e15, "PB"}, {1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "KB"},
	} {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
