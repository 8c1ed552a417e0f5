package runtime

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/netns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFrozenConfigIsWhatTheInitRuns runs create's stages without root or a
// fork (prepare, seal, freeze, the init's config, and the init's decoding
// of it) and checks that config.json in the state dir is byte for byte the
// spec the init receives, and that the init's plan is compiled from that
// same spec. The config asks for an AppArmor profile: on a host without
// AppArmor the init runs without one, so a state dir that froze the
// bundle's spec before that edit would differ from what the init ran.
func TestFrozenConfigIsWhatTheInitRuns(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := DefaultSpec()
	s.Process.Args = []string{"/bin/echo", "<hi & bye>"} // HTML-escaped by json.Marshal
	s.Process.ApparmorProfile = "miniruntime-test"
	s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 0, Hard: 1 << 20})
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "rw", "size=1m", "rslave"}})
	raw, _ := json.MarshalIndent(s, "", "\t") // not the bytes create writes
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := prepare(b, nil, []string{"8080:80"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.network == nil || len(p.network.names) != 1 || p.network.names[0] != netns.DefaultNetworkName || len(p.network.ports) != 1 {
		t.Fatalf("prepare kept network request %+v for -p 8080:80", p.network)
	}
	if p.resources == nil || p.resources.Resources() != p.Spec.Linux.Resources {
		t.Fatalf("prepare kept resources %+v, not the spec's", p.resources)
	}
	sealed, err := seal(p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	c := &Container{ID: "web", Bundle: b.Dir, Rootfs: b.Rootfs, dir: t.TempDir()}
	if err := c.freeze(sealed, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.initConfigFor(sealed, CreateOptions{}, cgroups.Hybrid, false)
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := json.NewEncoder(&wire).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	var got initConfig
	if err := readInitConfig(json.NewDecoder(&wire), &got); err != nil {
		t.Fatal(err)
	}
	frozen, err := os.ReadFile(filepath.Join(c.dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frozen, got.SpecJSON) {
		t.Errorf("the frozen config differs from the spec the init received:\nfrozen: %s\ninit:   %s", frozen, got.SpecJSON)
	}
	if want := appArmorEnabled(); (got.Spec.Process.ApparmorProfile != "") != want {
		t.Errorf("the init runs with AppArmor profile %q on a host where AppArmor enabled is %v", got.Spec.Process.ApparmorProfile, want)
	}
	// What start, exec and delete read back is the same spec.
	back, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, back, got.Spec) {
		t.Errorf("the state dir's config decodes to another spec than the init's")
	}
	// The plan the init executes is the one its spec compiles to.
	plan, err := compileInit(got.Spec, planOptions{Rootfs: got.Rootfs, CgroupMode: cgroups.Hybrid, Kcore: hostHasKcore()})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, plan, got.Plan) {
		t.Errorf("the init's plan is not compiled from the spec it was sent")
	}
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
