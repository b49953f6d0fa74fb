//go:build !linux

package protocol

import "net"

// RawTCP returns nc: raw system calls are only used on Linux (see
// rawtcp_linux.go).
func RawTCP(nc net.Conn) net.Conn { return nc }
