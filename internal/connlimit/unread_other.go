//go:build !unix

package connlimit

import "net"

// unread reports false: there is no peek at a socket here, so a
// connection counts as idle by what the server has read of it alone.
func unread(net.Conn) bool { return false }
