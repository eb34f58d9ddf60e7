package config

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestBytesUnmarshalYAML(t *testing.T) {
	tests := []struct {
		in   string
		want Bytes
		err  bool
	}{
		{in: "10MiB", want: 10 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "1GiB", want: 1 << 30},
		{in: "1MB", want: 1_000_000},
		{in: "1kB", want: 1000},
		{in: "1KB", want: 1000},
		{in: "1048576", want: 1 << 20},
		{in: "0", want: 0},
		{in: "1.5KiB", want: 1536},
		{in: "10 parsecs", err: true},
		{in: "MiB", err: true},
		{in: "-1MiB", err: true},
		{in: "-5", err: true},
		{in: `""`, err: true},
		{in: "[1]", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got struct {
				Size Bytes `yaml:"size"`
			}
			err := yaml.Unmarshal([]byte("size: "+tt.in), &got)
			if tt.err {
				if err == nil {
					t.Errorf("%s parsed as %d, want an error", tt.in, got.Size)
				}
				return
			}
			if err != nil || got.Size != tt.want {
				t.Errorf("%s = %d, %v; want %d", tt.in, got.Size, err, tt.want)
			}
		})
	}
}

func TestBytesString(t *testing.T) {
	tests := []struct {
		in   Bytes
		want string
	}{
		{0, "0B"},
		{10 * MiB, "10MiB"},
		{512 * KiB, "512KiB"},
		{GiB, "1GiB"},
		{1_000_000, "1MB"},
		{1000, "1KB"},
		{1500, "1500B"},
		{1536, "1536B"},
		{3 * KiB, "3KiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Bytes(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		// What String writes reads back to the same size.
		var back Bytes
		if err := yaml.Unmarshal([]byte(tt.want), &back); err != nil || back != tt.in {
			t.Errorf("%q read back as %d, %v; want %d", tt.want, back, err, tt.in)
		}
		out, err := yaml.Marshal(tt.in)
		if err != nil || string(out) != tt.want+"\n" {
			t.Errorf("yaml.Marshal(%d) = %q, %v", int64(tt.in), out, err)
		}
	}
}
