// Fixture: a Go server linked with cgo, so the dynamic loader maps libc and
// the shim, yet Go's runtime makes every descriptor call itself. It leaks,
// like the pushgateway did, accepted connections whose peers went away
// (CLOSE_WAIT), and N files. argv: FLAG N. Prints "ready pid P" once they
// are open, then holds until FLAG exists and exits 0. argv: serve FLAG: an
// HTTP server that leaks on an error path (serve.go).
package main

// int fixture_answer(void) { return 42; }
import "C"

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if os.Args[1] == "serve" {
		serve(os.Args[2])
		return
	}
	flag := os.Args[1]
	var n int
	fmt.Sscan(os.Args[2], &n)
	if C.fixture_answer() != 42 {
		os.Exit(3)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var kept []any
	for i := 0; i < n; i++ {
		f, err := os.Open("/etc/hostname")
		if err != nil {
			panic(err)
		}
		kept = append(kept, f)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		s, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		c.Close()
		kept = append(kept, s)
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Printf("ready pid %d\n", os.Getpid())
	for {
		if _, err := os.Stat(flag); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = kept
	os.Exit(0)
}
