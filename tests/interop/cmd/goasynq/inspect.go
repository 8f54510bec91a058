package main

import (
	"flag"
	"strconv"

	"github.com/hibiken/asynq"
)

type queueInfoJSON struct {
	Queue          string   `json:"queue"`
	MemoryUsage    int64    `json:"memory_usage"`
	Latency        float64  `json:"latency"`
	Size           int      `json:"size"`
	Groups         int      `json:"groups"`
	Pending        int      `json:"pending"`
	Active         int      `json:"active"`
	Scheduled      int      `json:"scheduled"`
	Retry          int      `json:"retry"`
	Archived       int      `json:"archived"`
	Completed      int      `json:"completed"`
	Aggregating    int      `json:"aggregating"`
	Processed      int      `json:"processed"`
	Failed         int      `json:"failed"`
	ProcessedTotal int      `json:"processed_total"`
	FailedTotal    int      `json:"failed_total"`
	Paused         bool     `json:"paused"`
	Timestamp      *float64 `json:"timestamp"`
}

type dailyStatsJSON struct {
	Queue     string `json:"queue"`
	Processed int    `json:"processed"`
	Failed    int    `json:"failed"`
	Date      string `json:"date"` // YYYY-MM-DD (UTC)
}

type workerInfoJSON struct {
	TaskID      string   `json:"task_id"`
	TaskType    string   `json:"task_type"`
	TaskPayload []byte   `json:"task_payload"`
	Queue       string   `json:"queue"`
	Started     *float64 `json:"started"`
	Deadline    *float64 `json:"deadline"`
}

type serverInfoJSON struct {
	ID             string           `json:"id"`
	Host           string           `json:"host"`
	PID            int              `json:"pid"`
	Concurrency    int              `json:"concurrency"`
	Queues         map[string]int   `json:"queues"`
	StrictPriority bool             `json:"strict_priority"`
	Started        *float64         `json:"started"`
	Status         string           `json:"status"`
	ActiveWorkers  []workerInfoJSON `json:"active_workers"`
}

type schedulerEntryJSON struct {
	ID      string   `json:"id"`
	Spec    string   `json:"spec"`
	Type    string   `json:"type"`
	Payload []byte   `json:"payload"`
	Options []string `json:"options"` // Option.String() of each parsed option
	Next    *float64 `json:"next"`
	Prev    *float64 `json:"prev"`
}

type schedulerEventJSON struct {
	TaskID     string   `json:"task_id"`
	EnqueuedAt *float64 `json:"enqueued_at"`
}

type groupInfoJSON struct {
	Group string `json:"group"`
	Size  int    `json:"size"`
}

type countJSON struct {
	Count int `json:"count"`
}

type okJSON struct {
	OK bool `json:"ok"`
}

// inspectArgs are the flags every inspect verb may use (they come before the verb).
type inspectArgs struct {
	page, size int
	group      string
	force      bool
	rest       []string
}

func (a inspectArgs) need(n int, usage string) error {
	if len(a.rest) != n {
		return usageError("inspect %s", usage)
	}
	return nil
}

func (a inspectArgs) listOpts() []asynq.ListOption {
	var opts []asynq.ListOption
	if a.page > 0 {
		opts = append(opts, asynq.Page(a.page))
	}
	if a.size > 0 {
		opts = append(opts, asynq.PageSize(a.size))
	}
	return opts
}

// cmdInspect runs one Inspector verb: inspect [-page N] [-size N] [-group G] [-force] VERB ARGS.
func cmdInspect(c conn, args []string) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	var a inspectArgs
	fs.IntVar(&a.page, "page", 0, "page number (1-based) for list verbs")
	fs.IntVar(&a.size, "size", 0, "page size for list verbs")
	fs.StringVar(&a.group, "group", "", "group name for aggregating-state verbs")
	fs.BoolVar(&a.force, "force", false, "delete-queue: delete even when not empty")
	if err := fs.Parse(args); err != nil {
		return usageError("inspect: %v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageError("inspect needs a verb")
	}
	a.rest = rest[1:]
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	verb, ok := inspectVerbs[rest[0]]
	if !ok {
		return usageError("unknown inspect verb %q", rest[0])
	}
	out, err := verb(insp, a)
	if err != nil {
		return err
	}
	printJSON(out)
	return nil
}

var inspectVerbs = map[string]func(*asynq.Inspector, inspectArgs) (any, error){
	"queues": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		qs, err := i.Queues()
		if qs == nil {
			qs = []string{}
		}
		return qs, err
	},
	"queue-info": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(1, "queue-info QUEUE"); err != nil {
			return nil, err
		}
		info, err := i.GetQueueInfo(a.rest[0])
		if err != nil {
			return nil, err
		}
		return queueInfoJSON{
			Queue: info.Queue, MemoryUsage: info.MemoryUsage, Latency: seconds(info.Latency),
			Size: info.Size, Groups: info.Groups, Pending: info.Pending, Active: info.Active,
			Scheduled: info.Scheduled, Retry: info.Retry, Archived: info.Archived,
			Completed: info.Completed, Aggregating: info.Aggregating,
			Processed: info.Processed, Failed: info.Failed,
			ProcessedTotal: info.ProcessedTotal, FailedTotal: info.FailedTotal,
			Paused: info.Paused, Timestamp: unixSeconds(info.Timestamp),
		}, nil
	},
	"history": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(2, "history QUEUE DAYS"); err != nil {
			return nil, err
		}
		days, err := strconv.Atoi(a.rest[1])
		if err != nil {
			return nil, usageError("history: DAYS %q is not an integer", a.rest[1])
		}
		stats, err := i.History(a.rest[0], days)
		if err != nil {
			return nil, err
		}
		out := make([]dailyStatsJSON, 0, len(stats))
		for _, s := range stats {
			out = append(out, dailyStatsJSON{
				Queue: s.Queue, Processed: s.Processed, Failed: s.Failed,
				Date: s.Date.UTC().Format("2006-01-02"),
			})
		}
		return out, nil
	},
	"list": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(2, "list QUEUE STATE"); err != nil {
			return nil, err
		}
		q, opts := a.rest[0], a.listOpts()
		var infos []*asynq.TaskInfo
		var err error
		switch a.rest[1] {
		case "pending":
			infos, err = i.ListPendingTasks(q, opts...)
		case "active":
			infos, err = i.ListActiveTasks(q, opts...)
		case "scheduled":
			infos, err = i.ListScheduledTasks(q, opts...)
		case "retry":
			infos, err = i.ListRetryTasks(q, opts...)
		case "archived":
			infos, err = i.ListArchivedTasks(q, opts...)
		case "completed":
			infos, err = i.ListCompletedTasks(q, opts...)
		case "aggregating":
			infos, err = i.ListAggregatingTasks(q, a.group, opts...)
		default:
			return nil, usageError("list: unknown state %q", a.rest[1])
		}
		if err != nil {
			return nil, err
		}
		return taskInfos(infos), nil
	},
	"task-info": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(2, "task-info QUEUE ID"); err != nil {
			return nil, err
		}
		info, err := i.GetTaskInfo(a.rest[0], a.rest[1])
		if err != nil {
			return nil, err
		}
		return taskInfo(info), nil
	},
	"delete-task":  taskVerb((*asynq.Inspector).DeleteTask),
	"run-task":     taskVerb((*asynq.Inspector).RunTask),
	"archive-task": taskVerb((*asynq.Inspector).ArchiveTask),
	"delete-all":   stateVerb("delete"),
	"run-all":      stateVerb("run"),
	"archive-all":  stateVerb("archive"),
	"pause":        queueVerb((*asynq.Inspector).PauseQueue),
	"unpause":      queueVerb((*asynq.Inspector).UnpauseQueue),
	"delete-queue": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(1, "[-force] delete-queue QUEUE"); err != nil {
			return nil, err
		}
		return okJSON{true}, i.DeleteQueue(a.rest[0], a.force)
	},
	"cancel": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(1, "cancel TASK_ID"); err != nil {
			return nil, err
		}
		return okJSON{true}, i.CancelProcessing(a.rest[0])
	},
	"groups": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(1, "groups QUEUE"); err != nil {
			return nil, err
		}
		groups, err := i.Groups(a.rest[0])
		out := make([]groupInfoJSON, 0, len(groups))
		for _, g := range groups {
			out = append(out, groupInfoJSON{Group: g.Group, Size: g.Size})
		}
		return out, err
	},
	"servers": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		servers, err := i.Servers()
		out := make([]serverInfoJSON, 0, len(servers))
		for _, s := range servers {
			workers := make([]workerInfoJSON, 0, len(s.ActiveWorkers))
			for _, w := range s.ActiveWorkers {
				workers = append(workers, workerInfoJSON{
					TaskID: w.TaskID, TaskType: w.TaskType, TaskPayload: w.TaskPayload,
					Queue: w.Queue, Started: unixSeconds(w.Started), Deadline: unixSeconds(w.Deadline),
				})
			}
			out = append(out, serverInfoJSON{
				ID: s.ID, Host: s.Host, PID: s.PID, Concurrency: s.Concurrency, Queues: s.Queues,
				StrictPriority: s.StrictPriority, Started: unixSeconds(s.Started), Status: s.Status,
				ActiveWorkers: workers,
			})
		}
		return out, err
	},
	"scheduler-entries": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		entries, err := i.SchedulerEntries()
		out := make([]schedulerEntryJSON, 0, len(entries))
		for _, e := range entries {
			opts := make([]string, 0, len(e.Opts))
			for _, o := range e.Opts {
				opts = append(opts, o.String())
			}
			out = append(out, schedulerEntryJSON{
				ID: e.ID, Spec: e.Spec, Type: e.Task.Type(), Payload: e.Task.Payload(),
				Options: opts, Next: unixSeconds(e.Next), Prev: unixSeconds(e.Prev),
			})
		}
		return out, err
	},
	"scheduler-history": func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(1, "scheduler-history ENTRY_ID"); err != nil {
			return nil, err
		}
		events, err := i.ListSchedulerEnqueueEvents(a.rest[0], a.listOpts()...)
		out := make([]schedulerEventJSON, 0, len(events))
		for _, e := range events {
			out = append(out, schedulerEventJSON{TaskID: e.TaskID, EnqueuedAt: unixSeconds(e.EnqueuedAt)})
		}
		return out, err
	},
}

func taskVerb(op func(*asynq.Inspector, string, string) error) func(*asynq.Inspector, inspectArgs) (any, error) {
	return func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(2, "VERB QUEUE TASK_ID"); err != nil {
			return nil, err
		}
		return okJSON{true}, op(i, a.rest[0], a.rest[1])
	}
}

func queueVerb(op func(*asynq.Inspector, string) error) func(*asynq.Inspector, inspectArgs) (any, error) {
	return func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(1, "VERB QUEUE"); err != nil {
			return nil, err
		}
		return okJSON{true}, op(i, a.rest[0])
	}
}

// stateVerb is delete-all / run-all / archive-all QUEUE STATE ([-group G] for aggregating).
func stateVerb(action string) func(*asynq.Inspector, inspectArgs) (any, error) {
	return func(i *asynq.Inspector, a inspectArgs) (any, error) {
		if err := a.need(2, "[-group G] "+action+"-all QUEUE STATE"); err != nil {
			return nil, err
		}
		q, state := a.rest[0], a.rest[1]
		byQueue := map[string]func(string) (int, error){
			"delete/pending":    i.DeleteAllPendingTasks,
			"delete/scheduled":  i.DeleteAllScheduledTasks,
			"delete/retry":      i.DeleteAllRetryTasks,
			"delete/archived":   i.DeleteAllArchivedTasks,
			"delete/completed":  i.DeleteAllCompletedTasks,
			"run/scheduled":     i.RunAllScheduledTasks,
			"run/retry":         i.RunAllRetryTasks,
			"run/archived":      i.RunAllArchivedTasks,
			"archive/pending":   i.ArchiveAllPendingTasks,
			"archive/scheduled": i.ArchiveAllScheduledTasks,
			"archive/retry":     i.ArchiveAllRetryTasks,
		}
		byGroup := map[string]func(string, string) (int, error){
			"delete/aggregating":  i.DeleteAllAggregatingTasks,
			"run/aggregating":     i.RunAllAggregatingTasks,
			"archive/aggregating": i.ArchiveAllAggregatingTasks,
		}
		key := action + "/" + state
		if op, ok := byQueue[key]; ok {
			n, err := op(q)
			return countJSON{n}, err
		}
		if op, ok := byGroup[key]; ok {
			n, err := op(q, a.group)
			return countJSON{n}, err
		}
		return nil, usageError("%s-all: state %q is not supported by Go's Inspector", action, state)
	}
}
