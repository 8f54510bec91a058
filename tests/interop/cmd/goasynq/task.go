package main

import (
	"github.com/hibiken/asynq"
)

// taskSpec is a task and its options as JSON. Durations are seconds, times Unix seconds;
// an absent field means the option is not passed at all (Go's defaults apply).
type taskSpec struct {
	Type      string            `json:"type"`
	Payload   []byte            `json:"payload"` // base64 in JSON
	Headers   map[string]string `json:"headers"`
	Queue     *string           `json:"queue"`
	MaxRetry  *int              `json:"max_retry"`
	Timeout   *float64          `json:"timeout"`
	Deadline  *float64          `json:"deadline"`
	Unique    *float64          `json:"unique"`
	TaskID    *string           `json:"task_id"`
	ProcessAt *float64          `json:"process_at"`
	ProcessIn *float64          `json:"process_in"`
	Retention *float64          `json:"retention"`
	Group     *string           `json:"group"`
}

func (s taskSpec) task() *asynq.Task {
	if s.Headers != nil {
		return asynq.NewTaskWithHeaders(s.Type, s.Payload, s.Headers)
	}
	return asynq.NewTask(s.Type, s.Payload)
}

func (s taskSpec) options() []asynq.Option {
	var opts []asynq.Option
	if s.Queue != nil {
		opts = append(opts, asynq.Queue(*s.Queue))
	}
	if s.MaxRetry != nil {
		opts = append(opts, asynq.MaxRetry(*s.MaxRetry))
	}
	if s.Timeout != nil {
		opts = append(opts, asynq.Timeout(fromSeconds(*s.Timeout)))
	}
	if s.Deadline != nil {
		opts = append(opts, asynq.Deadline(fromUnixSeconds(*s.Deadline)))
	}
	if s.Unique != nil {
		opts = append(opts, asynq.Unique(fromSeconds(*s.Unique)))
	}
	if s.TaskID != nil {
		opts = append(opts, asynq.TaskID(*s.TaskID))
	}
	if s.ProcessAt != nil {
		opts = append(opts, asynq.ProcessAt(fromUnixSeconds(*s.ProcessAt)))
	}
	if s.ProcessIn != nil {
		opts = append(opts, asynq.ProcessIn(fromSeconds(*s.ProcessIn)))
	}
	if s.Retention != nil {
		opts = append(opts, asynq.Retention(fromSeconds(*s.Retention)))
	}
	if s.Group != nil {
		opts = append(opts, asynq.Group(*s.Group))
	}
	return opts
}

// taskInfoJSON is every field of asynq.TaskInfo; zero times are null.
type taskInfoJSON struct {
	ID            string            `json:"id"`
	Queue         string            `json:"queue"`
	Type          string            `json:"type"`
	Payload       []byte            `json:"payload"`
	Headers       map[string]string `json:"headers"`
	State         string            `json:"state"`
	MaxRetry      int               `json:"max_retry"`
	Retried       int               `json:"retried"`
	LastErr       string            `json:"last_err"`
	LastFailedAt  *float64          `json:"last_failed_at"`
	Timeout       float64           `json:"timeout"`
	Deadline      *float64          `json:"deadline"`
	Group         string            `json:"group"`
	NextProcessAt *float64          `json:"next_process_at"`
	IsOrphaned    bool              `json:"is_orphaned"`
	Retention     float64           `json:"retention"`
	CompletedAt   *float64          `json:"completed_at"`
	Result        []byte            `json:"result"`
}

func taskInfo(info *asynq.TaskInfo) taskInfoJSON {
	headers := info.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	payload := info.Payload
	if payload == nil {
		payload = []byte{}
	}
	result := info.Result
	if result == nil {
		result = []byte{}
	}
	return taskInfoJSON{
		ID:            info.ID,
		Queue:         info.Queue,
		Type:          info.Type,
		Payload:       payload,
		Headers:       headers,
		State:         info.State.String(),
		MaxRetry:      info.MaxRetry,
		Retried:       info.Retried,
		LastErr:       info.LastErr,
		LastFailedAt:  unixSeconds(info.LastFailedAt),
		Timeout:       seconds(info.Timeout),
		Deadline:      unixSeconds(info.Deadline),
		Group:         info.Group,
		NextProcessAt: unixSeconds(info.NextProcessAt),
		IsOrphaned:    info.IsOrphaned,
		Retention:     seconds(info.Retention),
		CompletedAt:   unixSeconds(info.CompletedAt),
		Result:        result,
	}
}

func taskInfos(infos []*asynq.TaskInfo) []taskInfoJSON {
	out := make([]taskInfoJSON, 0, len(infos))
	for _, info := range infos {
		out = append(out, taskInfo(info))
	}
	return out
}

// enqueueResult is one outcome of a batch enqueue: the TaskInfo or an error.
type enqueueResult struct {
	Task  *taskInfoJSON `json:"task,omitempty"`
	Error *cliError     `json:"error,omitempty"`
}

// cmdEnqueue enqueues one task (stdin: a taskSpec object, prints its TaskInfo) or many
// (stdin: an array, prints an array of {"task"} / {"error"} objects, one per task).
func cmdEnqueue(c conn, _ []string) error {
	var raw rawJSON
	if err := readInput(&raw); err != nil {
		return err
	}
	opt, err := c.asynqOpt()
	if err != nil {
		return err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if raw.isArray() {
		var specs []taskSpec
		if err := raw.decode(&specs); err != nil {
			return err
		}
		results := make([]enqueueResult, 0, len(specs))
		for _, spec := range specs {
			info, err := client.Enqueue(spec.task(), spec.options()...)
			if err != nil {
				results = append(results, enqueueResult{Error: classify(err)})
				continue
			}
			ti := taskInfo(info)
			results = append(results, enqueueResult{Task: &ti})
		}
		printJSON(results)
		return nil
	}
	var spec taskSpec
	if err := raw.decode(&spec); err != nil {
		return err
	}
	info, err := client.Enqueue(spec.task(), spec.options()...)
	if err != nil {
		return err
	}
	printJSON(taskInfo(info))
	return nil
}
