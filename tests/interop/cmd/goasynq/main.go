// Command goasynq drives the real hibiken/asynq v0.26.0 library for kasynq's interop tests.
//
// Every subcommand reads its input as JSON (stdin) or plain arguments and prints one JSON
// document on stdout, so pytest can compare what Go sees with what Python sees.
// Connection: -redis URL (standalone) or -cluster host:port,host:port (Redis Cluster).
// On failure the program prints {"error": <kind>, "message": <text>} and exits with status 1.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// conn holds how to reach Redis, for asynq (RedisConnOpt) and for raw commands.
type conn struct {
	url     string
	cluster []string
}

func (c conn) asynqOpt() (asynq.RedisConnOpt, error) {
	if len(c.cluster) > 0 {
		return asynq.RedisClusterClientOpt{Addrs: c.cluster}, nil
	}
	opt, err := asynq.ParseRedisURI(c.url)
	if err != nil {
		return nil, err
	}
	// ParseRedisURI keeps the password but drops the user name; a Redis ACL user (one per
	// tenant, see docs/operations.md) needs RedisClientOpt.Username, as a Go worker sets it.
	if client, ok := opt.(asynq.RedisClientOpt); ok {
		if parsed, perr := url.Parse(c.url); perr == nil && parsed.User != nil {
			client.Username = parsed.User.Username()
		}
		return client, nil
	}
	return opt, nil
}

// raw is a go-redis client for the bookkeeping of the test programs (recording lists).
func (c conn) raw() (redis.UniversalClient, error) {
	if len(c.cluster) > 0 {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.cluster}), nil
	}
	opts, err := redis.ParseURL(c.url)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// cliError is a failure with a stable kind the Python side can match on.
type cliError struct {
	Kind    string `json:"error"`
	Message string `json:"message"`
}

func (e *cliError) Error() string { return e.Kind + ": " + e.Message }

func usageError(format string, args ...any) error {
	return &cliError{Kind: "usage", Message: fmt.Sprintf(format, args...)}
}

// classify maps asynq's sentinel errors to kinds.
func classify(err error) *cliError {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	kinds := []struct {
		target error
		kind   string
	}{
		{asynq.ErrTaskIDConflict, "task_id_conflict"},
		{asynq.ErrDuplicateTask, "duplicate_task"},
		{asynq.ErrQueueNotFound, "queue_not_found"},
		{asynq.ErrQueueNotEmpty, "queue_not_empty"},
		{asynq.ErrTaskNotFound, "task_not_found"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.target) {
			return &cliError{Kind: k.kind, Message: err.Error()}
		}
	}
	return &cliError{Kind: "other", Message: err.Error()}
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "goasynq: cannot encode output:", err)
		os.Exit(2)
	}
}

// readInput decodes the JSON document on stdin into v.
func readInput(v any) error {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return usageError("stdin is not the expected JSON: %v", err)
	}
	return nil
}

// unixSeconds renders a time as float Unix seconds, nil for Go's zero time.
func unixSeconds(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	s := float64(t.UnixNano()) / 1e9
	return &s
}

func fromUnixSeconds(s float64) time.Time {
	return time.Unix(0, int64(s*1e9))
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func fromSeconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

var commands = map[string]func(conn, []string) error{
	"enqueue":       cmdEnqueue,
	"inspect":       cmdInspect,
	"server":        cmdServer,
	"scheduler":     cmdScheduler,
	"cron-next":     func(_ conn, args []string) error { return cmdCronNext(args) },
	"bench-enqueue": cmdBenchEnqueue,
	"bench-server":  cmdBenchServer,
}

func main() {
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL (standalone)")
	cluster := flag.String("cluster", "", "comma-separated Redis Cluster addresses (overrides -redis)")
	flag.Parse()
	c := conn{url: *redisURL}
	if *cluster != "" {
		c.cluster = strings.Split(*cluster, ",")
	}
	args := flag.Args()
	if len(args) == 0 {
		fail(usageError("no subcommand; one of enqueue, inspect, server, scheduler, cron-next, bench-enqueue, bench-server"))
	}
	run, ok := commands[args[0]]
	if !ok {
		fail(usageError("unknown subcommand %q", args[0]))
	}
	if err := run(c, args[1:]); err != nil {
		fail(err)
	}
}

func fail(err error) {
	printJSON(classify(err))
	os.Exit(1)
}

// rawJSON defers decoding until the shape (object or array) is known.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(data []byte) error {
	*r = append((*r)[0:0], data...)
	return nil
}

func (r rawJSON) isArray() bool {
	trimmed := strings.TrimSpace(string(r))
	return strings.HasPrefix(trimmed, "[")
}

func (r rawJSON) decode(v any) error {
	if err := json.Unmarshal(r, v); err != nil {
		return usageError("stdin is not the expected JSON: %v", err)
	}
	return nil
}
