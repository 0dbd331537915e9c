//go:build cgo

// With cgo the binary is linked by the system linker (C code first in
// .text), as Debian's Go programs are.
package main

// int fixture_cgo(void) { return 1; }
import "C"

var _ = C.fixture_cgo
