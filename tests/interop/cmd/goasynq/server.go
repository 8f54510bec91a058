package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// behaviour says what the test handler does with a task. A task whose payload is a JSON
// object with a "behaviour" key uses that; otherwise the server config's per-type or
// default behaviour applies; otherwise the handler succeeds at once.
type behaviour struct {
	SleepMs   int    `json:"sleep_ms"`   // sleep first (cut short by cancellation/deadline)
	FailTimes int    `json:"fail_times"` // fail while retried < fail_times; -1 fails always
	Error     string `json:"error"`      // error text when failing (default "planned failure")
	Result    []byte `json:"result"`     // written with ResultWriter before the outcome
	SkipRetry bool   `json:"skip_retry"` // fail wrapping asynq.SkipRetry
	Revoke    bool   `json:"revoke"`     // return asynq.RevokeTask
	Panic     bool   `json:"panic"`      // panic in the handler
}

type serverConfig struct {
	Concurrency         int                  `json:"concurrency"`
	Queues              map[string]int       `json:"queues"`
	Strict              bool                 `json:"strict"`
	ShutdownTimeout     float64              `json:"shutdown_timeout"`
	RetryDelay          *float64             `json:"retry_delay"` // fixed delay in seconds; default formula when absent
	TaskCheckInterval   float64              `json:"task_check_interval"`
	DelayedTaskInterval float64              `json:"delayed_task_check_interval"`
	JanitorInterval     float64              `json:"janitor_interval"`
	GroupGracePeriod    float64              `json:"group_grace_period"`
	GroupMaxDelay       float64              `json:"group_max_delay"`
	GroupMaxSize        int                  `json:"group_max_size"`
	Aggregate           bool                 `json:"aggregate"`       // enable a GroupAggregator
	AggregatedType      string               `json:"aggregated_type"` // type of aggregated tasks (default "aggregated")
	RecordList          string               `json:"record_list"`     // RPUSH one JSON event per finished handler call
	StartedList         string               `json:"started_list"`    // RPUSH one JSON event per started handler call
	Behaviours          map[string]behaviour `json:"behaviours"`      // by task type
	Default             *behaviour           `json:"default"`
	NotFailure          string               `json:"not_failure"`  // IsFailure is false for errors containing this text
	MuxPrefixes         []string             `json:"mux_prefixes"` // serve through a ServeMux with only these patterns
	LogLevel            string               `json:"log_level"`    // debug, info, warn (default), error
}

// handlerEvent is what the recording lists hold, one JSON object per element.
type handlerEvent struct {
	Server   string  `json:"server"` // always "go"
	ID       string  `json:"id"`
	Type     string  `json:"type"`
	Queue    string  `json:"queue"`
	Retried  int     `json:"retried"`
	MaxRetry int     `json:"max_retry"`
	Outcome  string  `json:"outcome,omitempty"` // ok, error, canceled, deadline_exceeded, revoked
	Time     float64 `json:"time"`
	Payload  []byte  `json:"payload"`
}

func (cfg serverConfig) asynqConfig() (asynq.Config, error) {
	var level asynq.LogLevel
	levelName := cfg.LogLevel
	if levelName == "" {
		levelName = "warn"
	}
	if err := level.Set(levelName); err != nil {
		return asynq.Config{}, usageError("log_level: %v", err)
	}
	ac := asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   cfg.Queues,
		StrictPriority:           cfg.Strict,
		ShutdownTimeout:          fromSeconds(cfg.ShutdownTimeout),
		TaskCheckInterval:        fromSeconds(cfg.TaskCheckInterval),
		DelayedTaskCheckInterval: fromSeconds(cfg.DelayedTaskInterval),
		JanitorInterval:          fromSeconds(cfg.JanitorInterval),
		GroupGracePeriod:         fromSeconds(cfg.GroupGracePeriod),
		GroupMaxDelay:            fromSeconds(cfg.GroupMaxDelay),
		GroupMaxSize:             cfg.GroupMaxSize,
		LogLevel:                 level,
	}
	if cfg.NotFailure != "" {
		ac.IsFailure = func(err error) bool { return !strings.Contains(err.Error(), cfg.NotFailure) }
	}
	if cfg.RetryDelay != nil {
		delay := fromSeconds(*cfg.RetryDelay)
		ac.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return delay }
	}
	if cfg.Aggregate {
		aggType := cfg.AggregatedType
		if aggType == "" {
			aggType = "aggregated"
		}
		ac.GroupAggregator = asynq.GroupAggregatorFunc(func(group string, tasks []*asynq.Task) *asynq.Task {
			parts := make([][]byte, 0, len(tasks))
			for _, t := range tasks {
				parts = append(parts, t.Payload())
			}
			return asynq.NewTask(aggType, bytes.Join(parts, []byte("\n")))
		})
	}
	return ac, nil
}

// testHandler runs behaviours and records every call.
type testHandler struct {
	cfg serverConfig
	rdb redis.UniversalClient
}

func (h *testHandler) behaviourFor(t *asynq.Task) behaviour {
	var wrapped struct {
		Behaviour *behaviour `json:"behaviour"`
	}
	if json.Unmarshal(t.Payload(), &wrapped) == nil && wrapped.Behaviour != nil {
		return *wrapped.Behaviour
	}
	if b, ok := h.cfg.Behaviours[t.Type()]; ok {
		return b
	}
	if h.cfg.Default != nil {
		return *h.cfg.Default
	}
	return behaviour{}
}

func (h *testHandler) record(ctx context.Context, list string, t *asynq.Task, outcome string) {
	if list == "" {
		return
	}
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	event, _ := json.Marshal(handlerEvent{
		Server: "go", ID: id, Type: t.Type(), Queue: queue, Retried: retried, MaxRetry: maxRetry,
		Outcome: outcome, Time: float64(time.Now().UnixNano()) / 1e9, Payload: t.Payload(),
	})
	// The handler's context may already be cancelled; recording must still happen.
	if err := h.rdb.RPush(context.Background(), list, event).Err(); err != nil {
		fmt.Fprintln(os.Stderr, "goasynq: cannot record handler event:", err)
	}
}

func (h *testHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	h.record(ctx, h.cfg.StartedList, t, "")
	err := h.run(ctx, t)
	h.record(ctx, h.cfg.RecordList, t, outcomeOf(err))
	return err
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, asynq.RevokeTask):
		return "revoked"
	default:
		return "error"
	}
}

func (h *testHandler) run(ctx context.Context, t *asynq.Task) error {
	b := h.behaviourFor(t)
	if b.SleepMs > 0 {
		select {
		case <-time.After(time.Duration(b.SleepMs) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(b.Result) > 0 {
		if _, err := t.ResultWriter().Write(b.Result); err != nil {
			return err
		}
	}
	if b.Panic {
		panic("planned panic")
	}
	if b.Revoke {
		return asynq.RevokeTask
	}
	message := b.Error
	if message == "" {
		message = "planned failure"
	}
	if b.SkipRetry {
		return fmt.Errorf("%s: %w", message, asynq.SkipRetry)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	if b.FailTimes < 0 || retried < b.FailTimes {
		return errors.New(message)
	}
	return nil
}

// cmdServer runs a Go asynq server until SIGTERM/SIGINT (graceful Shutdown); SIGTSTP stops
// fetching (Stop). stdin: serverConfig. Prints {"ready": true, "pid": N} once started.
func cmdServer(c conn, _ []string) error {
	var cfg serverConfig
	if err := readInput(&cfg); err != nil {
		return err
	}
	ac, err := cfg.asynqConfig()
	if err != nil {
		return err
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
	srv := asynq.NewServer(opt, ac)
	var handler asynq.Handler = &testHandler{cfg: cfg, rdb: rdb}
	if len(cfg.MuxPrefixes) > 0 {
		mux := asynq.NewServeMux()
		for _, pattern := range cfg.MuxPrefixes {
			mux.Handle(pattern, handler)
		}
		handler = mux
	}
	if err := srv.Start(handler); err != nil {
		return err
	}
	printJSON(map[string]any{"ready": true, "pid": os.Getpid()})
	waitForSignals(srv)
	return nil
}

// waitForSignals mirrors asynq's own Run: SIGTSTP stops fetching, SIGTERM/SIGINT shut down.
func waitForSignals(srv *asynq.Server) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTSTP)
	for sig := range sigs {
		if sig == syscall.SIGTSTP {
			srv.Stop()
			continue
		}
		break
	}
	srv.Shutdown()
}
