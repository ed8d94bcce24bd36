//go:build unix

package connlimit

import (
	"net"
	"syscall"
)

// unread reports whether bytes from the client wait in the kernel, on c,
// that the server has not read yet: a server slow to read (a busy one)
// may not have read a request sent at once. It peeks at the socket; the
// socket is non-blocking, as Go's always are, so the peek does not wait.
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	})
	return n > 0
}
