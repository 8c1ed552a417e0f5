// Package runtime creates, starts and removes OCI containers. Its code runs
// in two processes, and each file belongs to one of them:
//
//   - The runtime (the parent): the `miniruntime` command that loads and
//     checks a bundle, makes the cgroup, forks the init, wires networks,
//     runs hooks and keeps the state. bundle.go, validate.go, prepare.go
//     (create's stages, each handed what the one before computed), create.go,
//     namespaces.go (the fork into new namespaces), network.go, exec.go,
//     lifecycle.go, control.go, state.go, lsm.go (host-side checks),
//     exe.go, features.go, defaultspec.go; runtime.go is the library's
//     entry point (Runtime: Create, Run, Exec, Load), with the terminal
//     and pipe relays of a foreground process (relay_*.go).
//   - The container's init, which executes the plan the parent compiled
//     and ends in execve of the container's process: this binary again,
//     executed inside the new namespaces. For most configs it is the
//     native init, C code that runs before the Go runtime (cinit/, chosen
//     and fed by native.go); otherwise the Go init, `miniruntime init`:
//     every file named init_*.go, and the C preamble in nsenter/.
//   - Both: the plan the one compiles and the other executes (plan.go), the
//     messages between them (sync.go), and pure helpers either calls:
//     mount options (mountopts.go), capability names (caps.go), the
//     seccomp config (seccomp.go), hooks (hooks.go: the createContainer and
//     startContainer hooks run in the init, the others in the parent),
//     name tables (tables.go), mountinfo (mountinfo.go), shared.go, errors.go.
//
// `miniruntime plan` prints a bundle's plan without running it; see
// docs/plan.md.
package runtime
