package runtime

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Linux security modules: AppArmor profiles and SELinux labels.
//
// AppArmor confines a process from its next execve on: writing
// "exec PROFILE" to the thread's attr/exec file asks the kernel to switch
// profiles at that execve. The profile must already be loaded (by
// apparmor_parser, or by podman for its containers-default profile);
// create checks that, so a missing one fails create rather than start.

const (
	appArmorEnabledFile  = "/sys/module/apparmor/parameters/enabled"
	appArmorProfilesFile = "/sys/kernel/security/apparmor/profiles"
	selinuxEnforceFile   = "/sys/fs/selinux/enforce"
)

// appArmorEnabled reports whether the host kernel enforces AppArmor. Where
// it does not, a profile in the config can only be ignored, as it would be
// by the kernel anyway.
//
// Both the module and its interface must be there: a kernel with AppArmor
// built in but no securityfs mounted (a bare boot) cannot load or apply a
// profile, and runc counts it as off too.
func appArmorEnabled() bool {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
		return false
	}
	b, err := os.ReadFile(appArmorEnabledFile)
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// appArmorLoaded reports whether a profile of that name is loaded. The
// kernel lists one "name (mode)" line per profile.
func appArmorLoaded(name string) (bool, error) {
	f, err := os.Open(appArmorProfilesFile)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n, _, ok := strings.Cut(sc.Text(), " ("); ok && n == name {
			return true, nil
		}
	}
	return false, sc.Err()
}

// selinuxEnforcing reports whether SELinux is enabled and enforcing.
func selinuxEnforcing() bool {
	b, err := os.ReadFile(selinuxEnforceFile)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// validateLSM checks the process's AppArmor profile and the SELinux labels
// against what this host has. Where a module is off, its settings are
// ignored (lsmWarnings says so).
func validateLSM(s *specs.Spec) error {
	if p := s.Process; p != nil && p.ApparmorProfile != "" && p.ApparmorProfile != "unconfined" && appArmorEnabled() {
		ok, err := appArmorLoaded(p.ApparmorProfile)
		if err != nil {
			return fieldErr("process.apparmorProfile", "%q: cannot list the loaded profiles: %v", p.ApparmorProfile, unwrapPath(err))
		}
		if !ok {
			return fieldErr("process.apparmorProfile", "%q is not loaded (load it with apparmor_parser -r FILE)", p.ApparmorProfile)
		}
	}
	if selinuxEnforcing() {
		if s.Process != nil && s.Process.SelinuxLabel != "" {
			return fieldErr("process.selinuxLabel", "this host enforces SELinux, and this runtime cannot apply labels")
		}
		if s.Linux != nil && s.Linux.MountLabel != "" {
			return fieldErr("linux.mountLabel", "this host enforces SELinux, and this runtime cannot apply labels")
		}
	}
	return nil
}

// lsmWarnings says which settings are ignored because their module is off.
func lsmWarnings(p *specs.Process) []string {
	if p != nil && p.ApparmorProfile != "" && !appArmorEnabled() {
		return []string{fmt.Sprintf("process.apparmorProfile: AppArmor is not enabled on this host; %q is ignored", p.ApparmorProfile)}
	}
	return nil
}

// appArmorForInit is the spec handed to an init (inherit == nil) or to an
// exec'd process's init (inherit is the container's process), as far as
// AppArmor goes. Whether AppArmor is on is decided here, on the host side:
// the init cannot tell, since it looks after pivot_root or from inside the
// container's mount namespace, where /sys is the container's own and has
// no securityfs, so appArmorEnabled would always say off there and a
// loaded profile would silently not be applied. Where AppArmor is off the
// profile is dropped (lsmWarnings has said it is ignored); where it is on,
// an exec'd process without a profile of its own gets the container's, as
// runc gives it, so that exec is no way out of the confinement. s is not
// changed.
func appArmorForInit(s *specs.Spec, inherit *specs.Process) *specs.Spec {
	if s == nil || s.Process == nil {
		return s
	}
	profile := s.Process.ApparmorProfile
	if profile == "" && inherit != nil {
		profile = inherit.ApparmorProfile
	}
	if !appArmorEnabled() {
		profile = ""
	}
	if profile == s.Process.ApparmorProfile {
		return s
	}
	c, p := *s, *s.Process
	p.ApparmorProfile = profile
	c.Process = &p
	return &c
}
