package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func appArmorOn() bool {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
		return false // no interface to load or apply profiles through
	}
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// TestAppArmorProfile checks process.apparmorProfile for the host at hand.
// Where AppArmor is enabled (the user-VM guest): a loaded profile that
// denies reading one file makes that read fail with EACCES inside the
// container and not without it; a profile that is not loaded fails create
// with one line and leaves nothing. Where it is off (this lab host): the
// profile is ignored with a warning and the container runs.
func TestAppArmorProfile(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.bundle, "rootfs", "secret"), []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.spec.Process.Args = []string{"cat", "/secret"}
	if !appArmorOn() {
		e.spec.Process.ApparmorProfile = "mrtest-any"
		r := e.run("aa-off")
		if r.code != 0 || r.stdout != "s3cret\n" || !strings.Contains(r.stderr, `AppArmor is not enabled on this host; "mrtest-any" is ignored`) {
			t.Fatalf("AppArmor off: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		out := e.ok("features")
		if !strings.Contains(strings.Join(strings.Fields(out), ""), `"apparmor":{"enabled":false}`) {
			t.Errorf("features does not say AppArmor is off:\n%s", out)
		}
		return
	}
	parser, err := exec.LookPath("apparmor_parser")
	if err != nil {
		t.Fatal("AppArmor is enabled but apparmor_parser is missing (apt-get install apparmor)")
	}
	name := fmt.Sprintf("mrtest-deny-%d", time.Now().UnixNano()%1e9)
	profile := filepath.Join(t.TempDir(), name)
	text := "profile " + name + " flags=(attach_disconnected,mediate_deleted) {\n" +
		"  file,\n  capability,\n  network,\n  signal,\n  unix,\n  ptrace,\n  mount,\n  umount,\n  pivot_root,\n" +
		"  deny /secret r,\n}\n"
	if err := os.WriteFile(profile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(parser, "-r", profile).CombinedOutput(); err != nil {
		t.Fatalf("apparmor_parser -r: %v: %s", err, out)
	}
	defer exec.Command(parser, "-R", profile).Run()

	r := e.run("aa-none")
	if r.code != 0 || r.stdout != "s3cret\n" {
		t.Fatalf("without a profile: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	e.spec.Process.ApparmorProfile = name
	// busybox cat says "can't open '/secret': Permission denied" for
	// EACCES and exits 1; anything else (a missing file, a failed start)
	// says otherwise.
	r = e.run("aa-deny")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "'/secret': Permission denied") {
		t.Fatalf("with %s: exit %d, stdout %q, stderr %q: the read was not denied with EACCES", name, r.code, r.stdout, r.stderr)
	}
	// The profile confines the process, not only this read: it is the
	// one the kernel reports, in enforce mode, and everything else the
	// profile allows still works.
	e.spec.Process.Args = []string{"sh", "-c", "cat /proc/self/attr/current; ls / >/dev/null && echo ls-ok"}
	if r = e.run("aa-current"); r.code != 0 || r.stdout != name+" (enforce)\nls-ok\n" {
		t.Fatalf("attr/current: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	appArmorExec(t, e, name)
	e.spec.Process.Args = []string{"cat", "/proc/self/attr/current"}
	e.spec.Process.ApparmorProfile = "unconfined"
	if r = e.run("aa-unconfined"); r.code != 0 || !strings.HasPrefix(r.stdout, "unconfined") {
		t.Fatalf("unconfined: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	e.spec.Process.ApparmorProfile = name + "-not-loaded"
	e.writeSpec()
	r = e.mr("create", "-b", e.bundle, "aa-missing")
	if r.code != 1 || !strings.Contains(r.stderr, "process.apparmorProfile") || !strings.Contains(r.stderr, "not loaded") ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("a profile that is not loaded: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := e.ok("features"); !strings.Contains(strings.Join(strings.Fields(out), ""), `"apparmor":{"enabled":true}`) {
		t.Errorf("features does not say AppArmor is on:\n%s", out)
	}
}

// appArmorExec checks that exec is no way out of the container's profile:
// an exec'd process is confined in the container's profile when it names
// none (as runc does), in its own with --apparmor, and unconfined only
// when it asks for that.
func appArmorExec(t *testing.T, e *env, name string) {
	t.Helper()
	startSleeper(t, e, "aa-exec")
	r := e.mr("exec", "aa-exec", "cat", "/secret")
	if r.code != 1 || !strings.Contains(r.stderr, "'/secret': Permission denied") {
		t.Fatalf("exec in a container confined by %s: exit %d, stdout %q, stderr %q: the read was not denied", name, r.code, r.stdout, r.stderr)
	}
	// A process.json without apparmorProfile, as a client may write it.
	process := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(process, []byte(`{"args":["cat","/proc/self/attr/current","/secret"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.mr("exec", "--process", process, "aa-exec")
	if r.code != 1 || r.stdout != name+" (enforce)\n" || !strings.Contains(r.stderr, "Permission denied") {
		t.Fatalf("exec --process without a profile: exit %d, stdout %q, stderr %q: want the container's profile", r.code, r.stdout, r.stderr)
	}
	if out := e.ok("exec", "--apparmor", "unconfined", "aa-exec", "cat", "/proc/self/attr/current", "/secret"); out != "unconfined\ns3cret\n" {
		t.Fatalf("exec --apparmor unconfined: %q", out)
	}
	e.ok("delete", "--force", "aa-exec")
}
