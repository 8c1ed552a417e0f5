package trace

import (
	"bytes"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	cases := map[string][]string{
		"mount -t proc proc /proc": {"mount", "-t", "proc", "proc", "/proc"},
		"echo 'a b' ''":            {"echo", "a b", ""},
		`sh -c 'echo '\''hi'\'''`:  {"sh", "-c", "echo 'hi'"},
		"echo 10:200=rwm,x@y%z+1":  {"echo", "10:200=rwm,x@y%z+1"},
		"printf '$HOME' '*' 'a;b'": {"printf", "$HOME", "*", "a;b"},
	}
	for want, words := range cases {
		if got := Quote(words...); got != want {
			t.Errorf("Quote(%q) = %q, want %q", words, got, want)
		}
	}
}

func TestNilRecorderIsOff(t *testing.T) {
	var r *Recorder
	if r.Enabled() {
		t.Fatal("nil recorder enabled")
	}
	r.Step("x", "y") // must not panic
	r.Stepf("y", "x %d", 1)
}

func TestStepFormat(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, "init")
	r.Step("mount /proc", "mount -t proc proc /proc")
	r.Step("pure step", "")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "init") || !strings.HasSuffix(lines[0], "$ mount -t proc proc /proc") || strings.Contains(lines[1], "$") {
		t.Fatalf("output:\n%s", b.String())
	}
}
