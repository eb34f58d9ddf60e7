package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestEvalKeyphrasesErrors(t *testing.T) {
	var out bytes.Buffer
	if err := evalKeyphrases(t.TempDir(), &out); err == nil {
		t.Error("a directory without sets: no error")
	}
	bad := t.TempDir() + "/bad.zip"
	os.WriteFile(bad, []byte("not a zip"), 0o600)
	if err := evalKeyphraseZip(bad, &out); err == nil || !strings.Contains(err.Error(), "bad.zip") {
		t.Errorf("a broken zip: err = %v", err)
	}
}
