// Command goasynqmon serves hibiken/asynqmon v0.7.2's HTTP handler (its JSON API under /api/
// and its embedded UI), so the interop tests can check what asynqmon shows of kasynq's state.
//
// It is asynqmon's own cmd/asynqmon reduced to what the tests need: the same
// asynqmon.New(asynqmon.Options{...}) handler with the default payload and result formatters
// (cmd/asynqmon truncates both to 200 characters), listening on -listen (default
// 127.0.0.1:0) instead of every interface, and printing {"ready": true, "address": ...}
// once serving.
//
// Connection: -redis URL (standalone) or -cluster host:port,host:port (Redis Cluster).
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

func connection(url, cluster string) (asynq.RedisConnOpt, error) {
	if cluster != "" {
		return asynq.RedisClusterClientOpt{Addrs: strings.Split(cluster, ",")}, nil
	}
	return asynq.ParseRedisURI(url)
}

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	cluster := flag.String("cluster", "", "comma-separated Redis Cluster addresses (overrides -redis)")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve asynqmon on")
	flag.Parse()

	opt, err := connection(*url, *cluster)
	if err != nil {
		log.Fatalf("bad connection flags: %v", err)
	}
	handler := asynqmon.New(asynqmon.Options{RedisConnOpt: opt})
	defer handler.Close()

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	ready := map[string]any{"ready": true, "address": listener.Addr().String()}
	if err := json.NewEncoder(os.Stdout).Encode(ready); err != nil {
		log.Fatalf("write ready line: %v", err)
	}
	log.Fatal(http.Serve(listener, handler))
}
