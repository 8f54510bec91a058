package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

type benchEnqueueInput struct {
	N           int    `json:"n"`
	Concurrency int    `json:"concurrency"` // goroutines sharing one Client (default 1)
	Queue       string `json:"queue"`
	Type        string `json:"type"`
	Payload     []byte `json:"payload"`
}

type benchResult struct {
	N              int      `json:"n"`
	Concurrency    int      `json:"concurrency"`
	Seconds        float64  `json:"seconds"`
	TasksPerSecond float64  `json:"tasks_per_second"`
	Errors         int      `json:"errors"`
	First          *float64 `json:"first_completion,omitempty"`
	Last           *float64 `json:"last_completion,omitempty"`
	Started        *float64 `json:"started,omitempty"`
}

// cmdBenchEnqueue enqueues N tasks with Client.Enqueue and reports tasks/s.
func cmdBenchEnqueue(c conn, _ []string) error {
	in := benchEnqueueInput{Concurrency: 1, Queue: "default", Type: "bench:noop"}
	if err := readInput(&in); err != nil {
		return err
	}
	if in.N <= 0 || in.Concurrency <= 0 {
		return usageError("bench-enqueue: n and concurrency must be positive (n=%d, concurrency=%d)", in.N, in.Concurrency)
	}
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < in.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(in.N) {
				if _, err := client.Enqueue(asynq.NewTask(in.Type, in.Payload), asynq.Queue(in.Queue)); err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	printJSON(benchResult{
		N: in.N, Concurrency: in.Concurrency, Seconds: elapsed,
		TasksPerSecond: float64(in.N) / elapsed, Errors: int(failures.Load()),
	})
	return nil
}

type benchServerInput struct {
	N           int            `json:"n"`
	Concurrency int            `json:"concurrency"`
	Queues      map[string]int `json:"queues"`
	Timeout     float64        `json:"timeout"` // give up after this many seconds (default 300)
}

// cmdBenchServer runs a Go server with a no-op handler until N tasks completed and reports
// the rate from the first to the last completion. The tasks must be enqueued beforehand.
func cmdBenchServer(c conn, _ []string) error {
	in := benchServerInput{Concurrency: 10, Timeout: 300}
	if err := readInput(&in); err != nil {
		return err
	}
	if in.N <= 1 {
		return usageError("bench-server: n must be at least 2 (n=%d)", in.N)
	}
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	var level asynq.LogLevel
	_ = level.Set("warn")
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: in.Concurrency, Queues: in.Queues, LogLevel: level})
	var done atomic.Int64
	var first, last atomic.Int64
	finished := make(chan struct{})
	handler := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		if n := done.Add(1); n == int64(in.N) {
			last.Store(now)
			close(finished)
		}
		return nil
	})
	started := time.Now()
	if err := srv.Start(handler); err != nil {
		return err
	}
	timedOut := false
	select {
	case <-finished:
	case <-time.After(fromSeconds(in.Timeout)):
		timedOut = true
	}
	srv.Shutdown()
	if timedOut {
		return &cliError{Kind: "timeout", Message: fmt.Sprintf("only %d of %d tasks completed", done.Load(), in.N)}
	}
	firstS := float64(first.Load()) / 1e9
	lastS := float64(last.Load()) / 1e9
	startedS := float64(started.UnixNano()) / 1e9
	elapsed := lastS - firstS
	printJSON(benchResult{
		N: in.N, Concurrency: in.Concurrency, Seconds: elapsed,
		TasksPerSecond: float64(in.N-1) / elapsed, First: &firstS, Last: &lastS, Started: &startedS,
	})
	return nil
}
