package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretIsSet(t *testing.T) {
	for _, tt := range []struct {
		s    Secret
		want bool
	}{
		{Secret{}, false},
		{Secret{Env: "X"}, true},
		{Secret{File: "x"}, true},
	} {
		if got := tt.s.IsSet(); got != tt.want {
			t.Errorf("%+v.IsSet() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestSecretValue(t *testing.T) {
	const value = "tok-3f9a1c"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("AFFINITYD_TEST_TOKEN", " "+value+"\n")
	t.Setenv("AFFINITYD_TEST_BLANK", "  \n")
	t.Setenv("AFFINITYD_TEST_UNSET", "")
	os.Unsetenv("AFFINITYD_TEST_UNSET")

	tests := []struct {
		name    string
		s       Secret
		want    string
		wantErr string // a part of the error; "" for none
	}{
		{"env set, trimmed", Secret{Env: "AFFINITYD_TEST_TOKEN"}, value, ""},
		{"env unset", Secret{Env: "AFFINITYD_TEST_UNSET"}, "", "environment variable AFFINITYD_TEST_UNSET is not set"},
		{"env blank", Secret{Env: "AFFINITYD_TEST_BLANK"}, "", "environment variable AFFINITYD_TEST_BLANK is not set"},
		{"file found, trimmed", Secret{File: write("token", value+"\n")}, value, ""},
		{"file missing", Secret{File: filepath.Join(dir, "missing")}, "", "secret file: open " + filepath.Join(dir, "missing")},
		{"file empty", Secret{File: write("empty", "\n \n")}, "", "is empty"},
		{"unset", Secret{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Value()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Value() error = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Value() error = %v, want one containing %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Value() = %q, want %q", got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), value) {
				t.Errorf("Value() error shows the secret: %v", err)
			}
		})
	}
}

// A file is read at each call, so a rotated secret is picked up.
func TestSecretValueRereadsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	s := Secret{File: p}
	for _, v := range []string{"first", "second"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Value(); err != nil || got != v {
			t.Errorf("Value() = %q, %v; want %q", got, err, v)
		}
	}
}

func TestSecretStringNeverShowsValue(t *testing.T) {
	const value = "tok-3f9a1c"
	t.Setenv("AFFINITYD_TEST_TOKEN", value)
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s    Secret
		want string
	}{
		{Secret{Env: "AFFINITYD_TEST_TOKEN"}, "env:AFFINITYD_TEST_TOKEN"},
		{Secret{File: p}, "file:" + p},
		{Secret{}, "unset"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want || strings.Contains(got, value) {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
