package devstack

import "syscall"

// childProcAttr puts a plugin in its own process group (so that stopping it
// reaches whatever it started, and a Ctrl-C in the terminal reaches only
// authbus dev, which stops the plugins in order) and has the kernel kill it
// when authbus dev dies, however it dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Signals signalGroup sends.
const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
