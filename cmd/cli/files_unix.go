//go:build unix

package cli

import "syscall"

// openFilesLimit returns the process's limit of open files (the Go
// runtime raises the soft limit to the hard one at start); 0 if unknown.
func openFilesLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}
