package main

// Subcommands for bench/ (the benchmark harness): a producer and a long-running worker whose
// no-op handler does the same Redis accounting as every other system in the benchmark
// (bench/peers/common.py): INCR bench:done, SETBIT bench:seen <index>, SETNX bench:first,
// SET bench:last and RPUSH bench:latency (start minus enqueue time, seconds), in one
// non-transactional pipeline. The payload is the JSON array [index, enqueued_at].
// Registered from init so the interop program's own files stay untouched.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func init() {
	commands["bench-produce"] = cmdBenchProduce
	commands["bench-worker"] = cmdBenchWorker
}

type benchProduceInput struct {
	Count int     `json:"count"`
	Start int     `json:"start"`
	Rate  float64 `json:"rate"` // tasks per second; 0: flat out
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// cmdBenchProduce enqueues count tasks to "default" with Client.Enqueue, paced to rate if set,
// and prints the elapsed seconds and the pending count.
func cmdBenchProduce(c conn, _ []string) error {
	var in benchProduceInput
	if err := readInput(&in); err != nil {
		return err
	}
	if in.Count <= 0 || in.Start < 0 || in.Rate < 0 {
		return usageError("bench-produce: count must be positive, start and rate not negative (count=%d, start=%d, rate=%g)", in.Count, in.Start, in.Rate)
	}
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	origin := time.Now()
	for offset := 0; offset < in.Count; offset++ {
		if in.Rate > 0 {
			time.Sleep(time.Until(origin.Add(time.Duration(float64(offset) / in.Rate * float64(time.Second)))))
		}
		payload, _ := json.Marshal([]float64{float64(in.Start + offset), nowSeconds()})
		if _, err := client.Enqueue(asynq.NewTask("bench:noop", payload)); err != nil {
			return err
		}
	}
	elapsed := time.Since(origin).Seconds()
	rdb, err := c.raw()
	if err != nil {
		return err
	}
	defer rdb.Close()
	pending, err := rdb.LLen(context.Background(), "asynq:{default}:pending").Result()
	if err != nil {
		return err
	}
	printJSON(map[string]any{"seconds": elapsed, "pending": pending})
	return nil
}

type benchWorkerInput struct {
	Concurrency int `json:"concurrency"`
}

// cmdBenchWorker serves "default" with the accounting no-op handler until SIGTERM or SIGINT.
func cmdBenchWorker(c conn, _ []string) error {
	in := benchWorkerInput{Concurrency: 10}
	if err := readInput(&in); err != nil {
		return err
	}
	if in.Concurrency <= 0 {
		return usageError("bench-worker: concurrency must be positive (concurrency=%d)", in.Concurrency)
	}
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	rdb, err := c.raw()
	if err != nil {
		return err
	}
	defer rdb.Close()
	var level asynq.LogLevel
	_ = level.Set("warn")
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: in.Concurrency, LogLevel: level})
	handler := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		return benchAccount(ctx, rdb, task.Payload())
	})
	if err := srv.Start(handler); err != nil {
		return err
	}
	waitForSignals(srv)
	return nil
}

func benchAccount(ctx context.Context, rdb redis.UniversalClient, payload []byte) error {
	started := nowSeconds()
	var item [2]float64
	if err := json.Unmarshal(payload, &item); err != nil {
		return fmt.Errorf("bench payload %q: %w", payload, err)
	}
	pipe := rdb.Pipeline()
	pipe.Incr(ctx, "bench:done")
	pipe.SetBit(ctx, "bench:seen", int64(item[0]), 1)
	pipe.SetNX(ctx, "bench:first", formatSeconds(started), 0)
	pipe.Set(ctx, "bench:last", formatSeconds(nowSeconds()), 0)
	pipe.RPush(ctx, "bench:latency", formatSeconds(started-item[1]))
	_, err := pipe.Exec(ctx)
	return err
}
