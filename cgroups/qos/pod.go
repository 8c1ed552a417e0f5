package qos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Pod is the part of a core/v1 Pod that decides its cgroups, with the same
// JSON field names, so that a manifest written for the API server reads the
// same here.
type Pod struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
}

// ObjectMeta is metadata.name, .namespace and .uid.
type ObjectMeta struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	UID       string `json:"uid,omitempty"`
}

// PodSpec holds the containers. Init containers run one after the other
// before the others start; one whose restartPolicy is Always is a sidecar
// that keeps running next to them.
type PodSpec struct {
	InitContainers []Container `json:"initContainers,omitempty"`
	Containers     []Container `json:"containers"`
}

// Container is a container's name and resources.
type Container struct {
	Name      string               `json:"name"`
	Resources ResourceRequirements `json:"resources,omitempty"`
	// RestartPolicy is "Always" for a sidecar (an init container that
	// keeps running); empty otherwise.
	RestartPolicy string `json:"restartPolicy,omitempty"`
}

// ResourceRequirements are a container's requests and limits.
type ResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// ResourceList maps a resource name (cpu, memory, ...) to a quantity.
type ResourceList map[string]Quantity

// FieldError is a problem with one field of the manifest (or one flag),
// named by its path: "spec.containers[0].resources.requests.cpu".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads one Pod manifest in YAML or JSON. Fields this package does not
// model (image, command, ports, ...) are ignored, except where ignoring them
// would change the answer: pod-level resources and overhead are refused, and
// so is an unknown key inside resources (a "request:" typo would otherwise
// turn a Guaranteed pod into a BestEffort one without a word).
func Parse(data []byte) (*Pod, error) {
	if n := countDocuments(data); n > 1 {
		return nil, fmt.Errorf("the manifest holds %d YAML documents; give one Pod", n)
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber() // keep quantities written as numbers exact
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %v", err)
	}
	p, err := podFromTree(tree)
	if err != nil {
		return nil, err
	}
	if err := Validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

// countDocuments counts the non-empty documents of a YAML stream.
func countDocuments(data []byte) int {
	n, content := 0, false
	for line := range strings.SplitSeq(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "---" || strings.HasPrefix(t, "--- ") {
			if content {
				n++
			}
			content = false
			continue
		}
		if t != "" && !strings.HasPrefix(t, "#") {
			content = true
		}
	}
	if content {
		n++
	}
	return n
}

func podFromTree(tree any) (*Pod, error) {
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a Pod: the document is %s, not a mapping with kind: Pod", typeName(tree))
	}
	p := &Pod{}
	var err error
	if p.Kind, err = optString(top, "kind", "kind"); err != nil {
		return nil, err
	}
	switch p.Kind {
	case "Pod":
	case "":
		return nil, fieldErr("kind", "missing: not a Pod manifest (it needs kind: Pod)")
	default:
		return nil, fieldErr("kind", "%s is not a Pod; give a Pod manifest (for a workload, copy its spec.template into a Pod)", printable(p.Kind))
	}
	if p.APIVersion, err = optString(top, "apiVersion", "apiVersion"); err != nil {
		return nil, err
	}
	if p.APIVersion != "" && p.APIVersion != "v1" {
		return nil, fieldErr("apiVersion", "%q: a Pod is apiVersion v1", p.APIVersion)
	}
	if md, ok := top["metadata"]; ok {
		m, err := asMap(md, "metadata")
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			key string
			dst *string
		}{{"name", &p.Metadata.Name}, {"namespace", &p.Metadata.Namespace}, {"uid", &p.Metadata.UID}} {
			if *f.dst, err = optString(m, f.key, "metadata."+f.key); err != nil {
				return nil, err
			}
		}
	}
	sv, ok := top["spec"]
	if !ok {
		return nil, fieldErr("spec", "missing")
	}
	spec, err := asMap(sv, "spec")
	if err != nil {
		return nil, err
	}
	if _, ok := spec["resources"]; ok {
		return nil, fieldErr("spec.resources", "pod-level resources (the PodLevelResources feature) are not modeled here; set resources on each container")
	}
	if _, ok := spec["overhead"]; ok {
		return nil, fieldErr("spec.overhead", "pod overhead (set from a RuntimeClass) is not modeled here; remove it")
	}
	if p.Spec.InitContainers, err = containersFrom(spec, "initContainers"); err != nil {
		return nil, err
	}
	if p.Spec.Containers, err = containersFrom(spec, "containers"); err != nil {
		return nil, err
	}
	return p, nil
}

func containersFrom(spec map[string]any, key string) ([]Container, error) {
	v, ok := spec[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, err := asList(v, "spec."+key)
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(list))
	for i, item := range list {
		field := fmt.Sprintf("spec.%s[%d]", key, i)
		m, err := asMap(item, field)
		if err != nil {
			return nil, err
		}
		var c Container
		if c.Name, err = optString(m, "name", field+".name"); err != nil {
			return nil, err
		}
		if c.RestartPolicy, err = optString(m, "restartPolicy", field+".restartPolicy"); err != nil {
			return nil, err
		}
		if rv, ok := m["resources"]; ok && rv != nil {
			if c.Resources, err = resourcesFrom(rv, field+".resources"); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func resourcesFrom(v any, field string) (ResourceRequirements, error) {
	var r ResourceRequirements
	m, err := asMap(v, field)
	if err != nil {
		return r, err
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "requests", "limits":
		case "claims":
			// Dynamic resource claims name devices, not CPU or memory.
		default:
			return r, fieldErr(field+"."+k, "unknown field (resources has requests, limits and claims)")
		}
	}
	if r.Requests, err = resourceList(m["requests"], field+".requests"); err != nil {
		return r, err
	}
	if r.Limits, err = resourceList(m["limits"], field+".limits"); err != nil {
		return r, err
	}
	return r, nil
}

func resourceList(v any, field string) (ResourceList, error) {
	if v == nil {
		return nil, nil
	}
	m, err := asMap(v, field)
	if err != nil {
		return nil, err
	}
	out := ResourceList{}
	for _, name := range sortedKeys(m) {
		f := field + "." + printable(name)
		if err := checkResourceName(name, f); err != nil {
			return nil, err
		}
		q, err := quantityOf(m[name], f)
		if err != nil {
			return nil, err
		}
		out[name] = q
	}
	return out, nil
}

// checkResourceName accepts the names the API server accepts in requests
// and limits: the standard ones and extended (domain-prefixed) resources.
func checkResourceName(name, field string) error {
	switch {
	case name == "cpu", name == "memory", name == "ephemeral-storage":
		return nil
	case strings.HasPrefix(name, "hugepages-"):
		if _, err := parseQuantity(strings.TrimPrefix(name, "hugepages-")); err != nil {
			return fieldErr(field, "%q: the page size after hugepages- is not a quantity (hugepages-2Mi)", name)
		}
		return nil
	case strings.Contains(name, "/"):
		// An extended resource is a qualified name, domain/name, as the
		// API server requires: nothing else would print as one word.
		domain, rest, _ := strings.Cut(name, "/")
		if domain == "" || rest == "" || len(name) > 253 || strings.IndexFunc(domain, notDNSRune) >= 0 || strings.IndexFunc(rest, notNameRune) >= 0 {
			return fieldErr(field, "%q is not an extended resource name (domain/name, such as example.com/gpu)", name)
		}
		return nil
	}
	return fieldErr(field, "unknown resource %q (cpu, memory, ephemeral-storage, hugepages-<size>, or an extended resource such as example.com/gpu)", name)
}

// quantityOf parses a quantity written as a string ("250m", "64Mi") or a
// bare number (cpu: 2, cpu: 0.5).
func quantityOf(v any, field string) (Quantity, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		return Quantity{}, fieldErr(field, "expected a quantity such as 250m or 64Mi, got %s", typeName(v))
	}
	return ParseQuantity(s, field)
}

// ParseQuantity parses a Kubernetes quantity and refuses negative ones;
// field names it in the error.
func ParseQuantity(s, field string) (Quantity, error) {
	q, err := parseQuantity(strings.TrimSpace(s))
	switch {
	case errors.Is(err, errQuantityRange):
		return q, fieldErr(field, "%q is too large: quantities go up to 9223372036854775807m (about 8Pi)", s)
	case err != nil:
		return q, fieldErr(field, "%q is not a quantity (cpu: 250m, 0.5 or 2; memory: 64Mi, 1Gi, 128M or 1e9)", s)
	}
	if q.Sign() < 0 {
		return q, fieldErr(field, "%s is negative", q.String())
	}
	return q, nil
}

// Validate checks what the API server would refuse: no containers, missing
// or repeated names, a request above its limit, a restartPolicy outside a
// sidecar.
func Validate(p *Pod) error {
	if len(p.Spec.Containers) == 0 {
		return fieldErr("spec.containers", "a Pod needs at least one container")
	}
	seen := map[string]string{}
	check := func(list []Container, key string) error {
		for i, c := range list {
			field := fmt.Sprintf("spec.%s[%d]", key, i)
			if c.Name == "" {
				return fieldErr(field+".name", "missing")
			}
			if prev, ok := seen[c.Name]; ok {
				return fieldErr(field+".name", "%q is already the name of %s", c.Name, prev)
			}
			seen[c.Name] = field
			switch {
			case c.RestartPolicy == "":
			case key == "initContainers" && c.RestartPolicy == "Always":
			case key == "initContainers":
				return fieldErr(field+".restartPolicy", "%q: an init container's restartPolicy can only be Always (which makes it a sidecar)", c.RestartPolicy)
			default:
				return fieldErr(field+".restartPolicy", "only init containers take a restartPolicy (Always makes one a sidecar)")
			}
			for _, name := range sortedKeys(c.Resources.Requests) {
				req := c.Resources.Requests[name]
				if lim, ok := c.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
					return fieldErr(field+".resources.requests."+name, "%s is above the limit %s (a request must be at most its limit)", req.String(), lim.String())
				}
			}
		}
		return nil
	}
	if err := check(p.Spec.InitContainers, "initContainers"); err != nil {
		return err
	}
	if err := check(p.Spec.Containers, "containers"); err != nil {
		return err
	}
	if p.Metadata.UID != "" {
		if err := validUID(p.Metadata.UID); err != nil {
			return fieldErr("metadata.uid", "%v", err)
		}
	}
	return nil
}

// FlagValues are requests and limits given on the command line for a
// single container; empty strings are unset.
type FlagValues struct {
	CPURequest, CPULimit, MemoryRequest, MemoryLimit string
}

// FromFlags builds a one-container Pod (default/flags, container "main")
// from command-line quantities. Errors name the flag.
func FromFlags(f FlagValues) (*Pod, error) {
	c := Container{Name: "main"}
	set := func(list *ResourceList, name, flag, value string) error {
		if value == "" {
			return nil
		}
		q, err := ParseQuantity(value, flag)
		if err != nil {
			return err
		}
		if *list == nil {
			*list = ResourceList{}
		}
		(*list)[name] = q
		return nil
	}
	for _, s := range []struct {
		list              *ResourceList
		name, flag, value string
	}{
		{&c.Resources.Requests, "cpu", "--cpu-request", f.CPURequest},
		{&c.Resources.Limits, "cpu", "--cpu-limit", f.CPULimit},
		{&c.Resources.Requests, "memory", "--memory-request", f.MemoryRequest},
		{&c.Resources.Limits, "memory", "--memory-limit", f.MemoryLimit},
	} {
		if err := set(s.list, s.name, s.flag, s.value); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"cpu", "memory"} {
		req, rok := c.Resources.Requests[name]
		lim, lok := c.Resources.Limits[name]
		if rok && lok && req.Cmp(lim) > 0 {
			return nil, fieldErr("--"+name+"-request", "%s is above --%s-limit %s (a request must be at most its limit)", req.String(), name, lim.String())
		}
	}
	return &Pod{APIVersion: "v1", Kind: "Pod", Metadata: ObjectMeta{Name: "flags"}, Spec: PodSpec{Containers: []Container{c}}}, nil
}

func asMap(v any, field string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(field, "expected a mapping, got %s", typeName(v))
	}
	return m, nil
}

func asList(v any, field string) ([]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fieldErr(field, "expected a list, got %s", typeName(v))
	}
	return l, nil
}

func optString(m map[string]any, key, field string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fieldErr(field, "expected a string, got %s", typeName(v))
	}
	return s, nil
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return fmt.Sprintf("%t", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errNoContainer is returned when --container names no container.
var errNoContainer = errors.New("no such container")

func notDNSRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-')
}

func notNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
}

// printable is s itself when it prints as itself, else quoted, so that an
// error naming it stays on one line.
func printable(s string) string {
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		return q
	}
	return s
}
