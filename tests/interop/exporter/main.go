// Command goexporter serves hibiken/asynq's own queue metrics (x/metrics QueueMetricsCollector)
// on /metrics, so kasynq's exporter can be compared with Go's scrape of the same Redis.
//
// Connection: -redis URL (standalone) or -cluster host:port,host:port (Redis Cluster).
// It listens on -listen (default 127.0.0.1:0) and prints {"ready": true, "address": ...}
// once serving.
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
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	listen := flag.String("listen", "127.0.0.1:0", "address to serve /metrics on")
	flag.Parse()

	opt, err := connection(*url, *cluster)
	if err != nil {
		log.Fatalf("bad connection flags: %v", err)
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()

	// A pedantic registry, as asynq's tools/metrics_exporter uses, checks the collector.
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(metrics.NewQueueMetricsCollector(inspector))

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	ready := map[string]any{"ready": true, "address": listener.Addr().String()}
	if err := json.NewEncoder(os.Stdout).Encode(ready); err != nil {
		log.Fatalf("write ready line: %v", err)
	}
	http.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	log.Fatal(http.Serve(listener, nil))
}
