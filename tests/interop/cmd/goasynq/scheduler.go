package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"
)

type schedulerEntryInput struct {
	Spec string `json:"spec"`
	taskSpec
}

type schedulerInput struct {
	Entries           []schedulerEntryInput `json:"entries"`
	Location          string                `json:"location"`           // IANA name, default UTC
	HeartbeatInterval float64               `json:"heartbeat_interval"` // seconds, default 10
	LogLevel          string                `json:"log_level"`
}

// cmdScheduler registers the entries on a Go asynq Scheduler and runs it until
// SIGTERM/SIGINT. Prints {"ready": true, "entry_ids": [...]} once running.
func cmdScheduler(c conn, _ []string) error {
	var in schedulerInput
	if err := readInput(&in); err != nil {
		return err
	}
	loc, err := loadLocation(in.Location)
	if err != nil {
		return err
	}
	var level asynq.LogLevel
	levelName := in.LogLevel
	if levelName == "" {
		levelName = "warn"
	}
	if err := level.Set(levelName); err != nil {
		return usageError("log_level: %v", err)
	}
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	scheduler := asynq.NewScheduler(opt, &asynq.SchedulerOpts{
		Location: loc, HeartbeatInterval: fromSeconds(in.HeartbeatInterval), LogLevel: level,
	})
	ids := make([]string, 0, len(in.Entries))
	for _, e := range in.Entries {
		id, err := scheduler.Register(e.Spec, e.task(), e.options()...)
		if err != nil {
			return usageError("entry %q: %v", e.Spec, err)
		}
		ids = append(ids, id)
	}
	if err := scheduler.Start(); err != nil {
		return err
	}
	printJSON(map[string]any{"ready": true, "entry_ids": ids, "pid": os.Getpid()})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	scheduler.Shutdown()
	return nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, usageError("location %q: %v", name, err)
	}
	return loc, nil
}

type cronQuery struct {
	Spec     string  `json:"spec"`
	From     float64 `json:"from"`     // reference time, Unix seconds
	Location string  `json:"location"` // the Scheduler's Location, default UTC
	N        int     `json:"n"`        // how many fire times (default 5)
}

type cronAnswer struct {
	Spec  string    `json:"spec"`
	Next  []int64   `json:"next,omitempty"`  // Unix seconds
	Error *cliError `json:"error,omitempty"` // the spec does not parse
}

// cmdCronNext answers, for each query on stdin (a JSON array), the next N fire times of the
// spec as asynq's Scheduler computes them (robfig/cron v3 standard parser, Location applied).
func cmdCronNext(_ []string) error {
	var queries []cronQuery
	if err := readInput(&queries); err != nil {
		return err
	}
	answers := make([]cronAnswer, 0, len(queries))
	for _, q := range queries {
		loc, err := loadLocation(q.Location)
		if err != nil {
			return err
		}
		schedule, err := cron.ParseStandard(q.Spec)
		if err != nil {
			answers = append(answers, cronAnswer{Spec: q.Spec, Error: &cliError{Kind: "bad_spec", Message: err.Error()}})
			continue
		}
		n := q.N
		if n <= 0 {
			n = 5
		}
		t := fromUnixSeconds(q.From).In(loc)
		next := make([]int64, 0, n)
		for i := 0; i < n; i++ {
			t = schedule.Next(t)
			next = append(next, t.Unix())
		}
		answers = append(answers, cronAnswer{Spec: q.Spec, Next: next})
	}
	printJSON(answers)
	return nil
}
