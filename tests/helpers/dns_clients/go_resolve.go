// go_resolve: DNS look-ups through Go's pure resolver (net.Resolver{PreferGo: true}).
//
//	go_resolve [-server HOST:PORT] [-tcp] [-timeout 5s] [-gate] KIND NAME
//
// KIND: host (LookupHost: A and AAAA in parallel), ip4, ip6 (LookupIP), mx, txt,
// cname, ptr (NAME is an address). Without -server the resolver reads /etc/resolv.conf
// (port 53); with it, every query goes to HOST:PORT. -tcp sends every query over TCP.
// -gate waits for a line on stdin before the look-up.
// Prints one answer a line ("A 192.0.2.1", "MX 10 mail.example.test.", ...). Exit codes:
// 0 found, 2 not found (NXDOMAIN / no data), 3 timeout or temporary (SERVFAIL), 1 other.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	server := flag.String("server", "", "HOST:PORT to send every query to")
	tcp := flag.Bool("tcp", false, "send queries over TCP")
	timeout := flag.Duration("timeout", 5*time.Second, "whole look-up timeout")
	gate := flag.Bool("gate", false, "wait for a line on stdin first")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_resolve [-server HOST:PORT] [-tcp] [-timeout D] [-gate] KIND NAME")
		os.Exit(1)
	}
	kind, name := flag.Arg(0), flag.Arg(1)
	r := &net.Resolver{PreferGo: true}
	if *server != "" || *tcp {
		r.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			if *server != "" {
				address = *server
			}
			if *tcp {
				network = "tcp"
			}
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		}
	}
	if *gate {
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var out []string
	var err error
	switch kind {
	case "host":
		var addrs []string
		addrs, err = r.LookupHost(ctx, name)
		for _, a := range addrs {
			if strings.Contains(a, ":") {
				out = append(out, "AAAA "+a)
			} else {
				out = append(out, "A "+a)
			}
		}
	case "ip4", "ip6":
		var ips []net.IP
		ips, err = r.LookupIP(ctx, kind, name)
		for _, ip := range ips {
			if kind == "ip4" {
				out = append(out, "A "+ip.String())
			} else {
				out = append(out, "AAAA "+ip.String())
			}
		}
	case "mx":
		var mxs []*net.MX
		mxs, err = r.LookupMX(ctx, name)
		for _, mx := range mxs {
			out = append(out, fmt.Sprintf("MX %d %s", mx.Pref, mx.Host))
		}
	case "txt":
		var txts []string
		txts, err = r.LookupTXT(ctx, name)
		for _, t := range txts {
			out = append(out, "TXT "+t)
		}
	case "cname":
		var c string
		c, err = r.LookupCNAME(ctx, name)
		if err == nil {
			out = append(out, "CNAME "+c)
		}
	case "ptr":
		var names []string
		names, err = r.LookupAddr(ctx, name)
		for _, n := range names {
			out = append(out, "PTR "+n)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown KIND", kind)
		os.Exit(1)
	}
	for _, line := range out {
		fmt.Println(line)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		var de *net.DNSError
		if errors.As(err, &de) {
			switch {
			case de.IsNotFound:
				os.Exit(2)
			case de.IsTimeout, de.IsTemporary:
				os.Exit(3)
			}
		}
		os.Exit(1)
	}
}
