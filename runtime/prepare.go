package runtime

import (
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A bundle goes through create in three stages, each taking what the one
// before computed instead of computing it again:
//
//   - prepare: create's edits (--net, -p, --pod) made, the whole config
//     checked once; the check's results (linux.resources with its device
//     cgroup rules, the network annotations parsed) are kept in prepared.
//   - the parent's work: the cgroup begun from prepared.resources, the
//     networks allocated from prepared.network (which adds their /etc
//     mounts to the spec).
//   - seal: the last edit (the AppArmor profile as this host can apply it),
//     then the spec marshalled once. Those bytes are frozen in the state
//     dir and sent to the init as they are, and the init's plan is compiled
//     from the same spec, so what start, exec and delete read back is what
//     the init ran.

// prepared is a bundle made ready for create or plan.
type prepared struct {
	*Bundle
	checked
}

// prepare makes create's edits to the bundle's spec and checks the result.
func prepare(b *Bundle, nets, ports []string, root, pod string) (*prepared, error) {
	addNetworkAnnotations(b.Spec, nets, ports)
	if pod != "" {
		if err := joinPod(b.Spec, root, pod); err != nil {
			return nil, err
		}
	}
	c, err := check(b)
	if err != nil {
		return nil, err
	}
	return &prepared{Bundle: b, checked: *c}, nil
}

// sealedSpec is the spec the init runs and its one JSON encoding.
type sealedSpec struct {
	spec *specs.Spec
	raw  json.RawMessage
}

// seal is the last stage: it takes the AppArmor profile this host can apply
// (none where AppArmor is off), and marshals the spec.
func seal(s *specs.Spec) (*sealedSpec, error) {
	s = appArmorForInit(s, nil)
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("freeze config: %w", err)
	}
	return &sealedSpec{spec: s, raw: raw}, nil
}
