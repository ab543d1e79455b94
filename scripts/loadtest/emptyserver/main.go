// Command emptyserver is the ceiling of scripts/loadtest.sh: a fasthttp server that
// does no work, answering every request 202 with a small JSON body shaped like a send
// answer. wrk against it measures what this machine, fasthttp and wrk can do at best,
// so the gateway's figure can be read as a fraction of it.
//
//	go run ./scripts/loadtest/emptyserver -addr 127.0.0.1:0
//
// It prints "listening <addr>" on stdout once it accepts connections, and stops on
// SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

var answer = []byte(`{"id":"x","status":"queued"}`)

func handle(c *fasthttp.RequestCtx) {
	// Read the body as a real handler would, and discard it.
	_ = len(c.PostBody())
	c.SetStatusCode(fasthttp.StatusAccepted)
	c.SetContentType("application/json")
	c.SetBody(answer)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free port)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "emptyserver:", err)
		os.Exit(1)
	}
	srv := &fasthttp.Server{Handler: handle, Name: "emptyserver"}
	fmt.Printf("listening %s\n", ln.Addr().String())

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
		_ = srv.Shutdown()
	case err := <-done:
		if err != nil {
			fmt.Fprintln(os.Stderr, "emptyserver:", err)
			os.Exit(1)
		}
	}
}
