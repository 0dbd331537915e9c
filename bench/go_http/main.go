// Workload (9): a Go HTTP server (net/http) on 127.0.0.1:PORT. Prints
// "listening" when it accepts connections; GET / answers "ok", GET
// /shutdown ends it (exit 0).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/shutdown", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "bye")
		go func() { os.Exit(0) }()
	})
	fmt.Println("listening")
	http.Serve(ln, mux)
}
