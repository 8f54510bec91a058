// CoreDNS for the real-node harness, with only the plugins a cluster-local DNS needs.
// There is no `forward` plugin: a name outside cluster.local gets NXDOMAIN and no query
// ever leaves the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	// The order plugins run in, as in CoreDNS's plugin.cfg; template answers NXDOMAIN last.
	dnsserver.Directives = []string{
		"errors", "log", "health", "ready", "kubernetes", "cache", "loadbalance", "template",
	}
}

func main() {
	coremain.Run()
}
