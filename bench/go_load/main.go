// The load generator of workload (9): N GET requests to 127.0.0.1:PORT/
// from C goroutines, a new connection per request (no keep-alive). Prints
// requests_per_second=R errors=E.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := "http://127.0.0.1:" + os.Args[1] + "/"
	n, _ := strconv.Atoi(os.Args[2])
	c, _ := strconv.Atoi(os.Args[3])
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var next, errors int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= int64(n) {
				resp, err := client.Get(url)
				if err != nil {
					atomic.AddInt64(&errors, 1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("requests_per_second=%.1f errors=%d\n", float64(n)/time.Since(start).Seconds(), errors)
}
