//go:build unix && !linux

package pgtest

import "syscall"

// childAttr runs a child as cred's user (when set). Outside Linux there is no
// parent-death signal: the postgres of a crashed test binary keeps running
// (stop it with kill; the next run removes its directory).
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
