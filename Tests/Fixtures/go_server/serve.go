package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// The connections the error path forgot: kept (as a registry of live
// connections would keep them), so no finalizer closes them either.
var (
	forgotten   []net.Conn
	forgottenMu sync.Mutex
)

// serve is a small HTTP server already running when `fdtrace attach` comes.
// GET /leak takes the error path: it answers 500 and returns without
// closing the connection; any other request is answered 200 and closed.
// Prints "listening ADDR" once it accepts; exits 0 when flag exists.
func serve(flag string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			if _, err := os.Stat(flag); err == nil {
				os.Exit(0)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	fmt.Printf("listening %s\n", ln.Addr())
	for {
		c, err := ln.Accept() // ACCEPT
		if err != nil {
			panic(err)
		}
		go handle(c)
	}
}

func handle(c net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		c.Close()
		return
	}
	if req.URL.Path == "/leak" {
		forgottenMu.Lock()
		forgotten = append(forgotten, c)
		forgottenMu.Unlock()
		fmt.Fprint(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return // the error path: never closed
	}
	fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	c.Close()
}
