// Fixture for GoLineTable: ground truth from the binary's own runtime.
// argv: FIFO. It prints its load base ("base 0x…", for PIE builds), then
// for a call chain with an inlined function every pc runtime.Callers gives
// and the frame runtime.CallersFrames makes of it ("pc 0x… FUNC FILE LINE"),
// then "ready" once two goroutines are blocked: one in os.Open on FIFO (no
// writer: open blocks), one in (*net.TCPListener).Accept. SIGQUIT with
// GOTRACEBACK=system then dumps their stacks with pcs. Lines the tests look
// for are marked LINE(name).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
)

//go:noinline
func capture() []uintptr {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs) // LINE(callers)
	return pcs[:n]
}

// Inlined into its caller.
func inlinedStep() []uintptr {
	return capture() // LINE(inlined)
}

//go:noinline
func outer() []uintptr {
	return inlinedStep() // LINE(outer)
}

//go:noinline
func openFifo(path string) {
	f, err := os.Open(path) // LINE(open)
	if err == nil {
		f.Close()
	}
}

//go:noinline
func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // LINE(listen)
	if err != nil {
		panic(err)
	}
	return ln
}

//go:noinline
func acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept() // LINE(accept)
		if err != nil {
			return
		}
		c.Close()
	}
}

func base() string {
	exe, _ := os.Executable()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return "0"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 6 && fields[5] == exe {
			return "0x" + strings.Split(fields[0], "-")[0]
		}
	}
	return "0"
}

func main() {
	fmt.Printf("base %s\n", base())
	pcs := outer()
	frames := runtime.CallersFrames(pcs)
	for _, pc := range pcs {
		f, _ := frames.Next()
		fmt.Printf("pc %#x %s %s %d\n", pc, f.Function, f.File, f.Line)
	}
	ln := listen()
	go acceptLoop(ln)
	go openFifo(os.Args[1])
	time.Sleep(200 * time.Millisecond)
	fmt.Println("ready")
	select {}
}
