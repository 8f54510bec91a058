package main

// Subcommands for bench/ (the benchmark harness): a producer and a long-running worker whose
// no-op handler does the same accounting as every other system in the benchmark
// (bench/peers/common.py): it notes the task's index, start and pickup latency in memory, and
// a goroutine flushes the notes every 50 ms in one non-transactional pipeline: SADD
// bench:seen <index>..., ZADD bench:edges LT first / GT last, RPUSH bench:latency
// (start minus enqueue time, seconds) and, last, INCRBY bench:done. The payload is the JSON
// array [index, enqueued_at]. Registered from init so the interop program's own files stay
// untouched.

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strconv"
	"sync"
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
	recorder := &benchRecorder{}
	go recorder.flushForever(rdb)
	handler := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		return recorder.record(task.Payload())
	})
	if err := srv.Start(handler); err != nil {
		return err
	}
	waitForSignals(srv)
	return nil
}

// benchNote is one completed task: index, start time, pickup latency, completion time.
type benchNote struct {
	index                       int64
	started, latency, completed float64
}

// benchRecorder collects notes from the handler goroutines for the flushing goroutine.
type benchRecorder struct {
	mu    sync.Mutex
	notes []benchNote
}

func (r *benchRecorder) record(payload []byte) error {
	started := nowSeconds()
	var item [2]float64
	if err := json.Unmarshal(payload, &item); err != nil {
		return fmt.Errorf("bench payload %q: %w", payload, err)
	}
	note := benchNote{int64(item[0]), started, started - item[1], nowSeconds()}
	r.mu.Lock()
	r.notes = append(r.notes, note)
	r.mu.Unlock()
	return nil
}

func (r *benchRecorder) flushForever(rdb redis.UniversalClient) {
	for range time.Tick(50 * time.Millisecond) {
		if err := r.flush(context.Background(), rdb); err != nil {
			log.Printf("bench accounting flush: %v", err)
		}
	}
}

func (r *benchRecorder) flush(ctx context.Context, rdb redis.UniversalClient) error {
	r.mu.Lock()
	notes := r.notes
	r.notes = nil
	r.mu.Unlock()
	if len(notes) == 0 {
		return nil
	}
	first, last := notes[0].started, notes[0].completed
	latencies := make([]any, 0, len(notes))
	indices := make([]any, 0, len(notes))
	for _, note := range notes {
		indices = append(indices, note.index)
		first = min(first, note.started)
		last = max(last, note.completed)
		latencies = append(latencies, formatSeconds(note.latency))
	}
	pipe := rdb.Pipeline()
	pipe.SAdd(ctx, "bench:seen", indices...)
	pipe.ZAddArgs(ctx, "bench:edges", redis.ZAddArgs{LT: true, Members: []redis.Z{{Score: first, Member: "first"}}})
	pipe.ZAddArgs(ctx, "bench:edges", redis.ZAddArgs{GT: true, Members: []redis.Z{{Score: last, Member: "last"}}})
	pipe.RPush(ctx, "bench:latency", latencies...)
	pipe.IncrBy(ctx, "bench:done", int64(len(notes)))
	_, err := pipe.Exec(ctx)
	return err
}
