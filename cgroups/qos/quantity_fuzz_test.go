package qos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzParseQuantity checks that an accepted quantity's canonical form
// parses back to the same amount and the same form, that its JSON
// round-trips, and that a refusal is one of the two errors.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"250m", "1", "0.5", "64Mi", "1Gi", "128M", "1e9", "5e-3", "0.1n", "1.5u", "0.001E", "-1Mi",
		"+1", ".5", "5.", "", "Mi", "-", ".", "12 apples", "1e999999999", "9223372036854775807m", "9223372036854775808m",
		"8Ei", "1E18", "0x10", "1ki", "1e", "1e+3", "00000000000000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 {
			return
		}
		q, err := parseQuantity(s)
		if err != nil {
			if !errors.Is(err, errQuantitySyntax) && !errors.Is(err, errQuantityRange) {
				t.Fatalf("parseQuantity(%q): unexpected error %v", s, err)
			}
			return
		}
		c := q.String()
		q2, err := parseQuantity(c)
		if err != nil {
			t.Fatalf("parseQuantity(%q) = %s, which does not parse: %v", s, c, err)
		}
		if q2.Cmp(q) != 0 || q2.String() != c {
			t.Fatalf("parseQuantity(%q) = %s, which parses back as %s", s, c, q2.String())
		}
		if q.Sign() < 0 && q.MilliValue() > 0 || q.Sign() > 0 && q.MilliValue() <= 0 {
			t.Fatalf("parseQuantity(%q): sign %d, milli value %d", s, q.Sign(), q.MilliValue())
		}
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		var q3 Quantity
		if err := json.Unmarshal(b, &q3); err != nil || q3.Cmp(q) != 0 {
			t.Fatalf("JSON %s of %q reads back as %s, %v", b, s, q3.String(), err)
		}
	})
}

// FuzzParsePod feeds Pod manifests to Parse: a refusal is one line, an
// accepted Pod validates again and, written out as JSON, parses to the
// same QoS class.
func FuzzParsePod(f *testing.F) {
	const head = "kind: Pod\nmetadata: {name: p}\n"
	for _, doc := range []string{
		"kind: Pod\n  spec: [", "- a\n- b\n", "metadata: {name: p}\nspec: {containers: [{name: a}]}\n",
		head + "spec: {containers: [{name: a}]}\n---\n" + head + "spec: {containers: [{name: b}]}\n",
		head + "spec: hello\n", head + "spec: {containers: [{name: a, resources: {requests: {cpu: 1}}}]}\n",
		head + "spec: {containers: [{name: a, resources: {limits: {memory: 12 apples}}}]}\n",
		head + "spec: {containers: [{name: a, resources: {requests: {cpu: 600m}, limits: {cpu: 500m}}}]}\n",
		head + "spec: {containers: [{name: a, resources: {requests: {cpu: 500m, memory: 64Mi}, limits: {cpu: 500m, memory: 64Mi}}}]}\n",
		head + "spec: {initContainers: [{name: i, restartPolicy: Always, resources: {limits: {cpu: 1}}}], containers: [{name: a}]}\n",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","uid":"0b1c"},"spec":{"containers":[{"name":"a","resources":{"limits":{"hugepages-2Mi":"4Mi","memory":1e9}}}]}}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		p, err := Parse(data)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r") || strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("refusal %q is more than one line", err)
			}
			return
		}
		if err := Validate(p); err != nil {
			t.Fatalf("an accepted Pod does not validate again: %v", err)
		}
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := Parse(j)
		if err != nil {
			t.Fatalf("an accepted Pod, written as JSON, is refused: %v\n%s", err, j)
		}
		if PodClass(p2) != PodClass(p) {
			t.Fatalf("class %v becomes %v through JSON\n%s", PodClass(p), PodClass(p2), j)
		}
	})
}
