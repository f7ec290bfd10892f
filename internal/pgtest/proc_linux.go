package pgtest

import "syscall"

// childAttr runs a child as cred's user (when set) and has the kernel send it
// SIGQUIT (Postgres' immediate shutdown) when the test binary dies.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
