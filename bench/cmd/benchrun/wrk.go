package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is the JSON line bench/wrk/report.lua prints.
type wrkResult struct {
	Bench      int   `json:"bench"`
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Bytes      int64 `json:"bytes"`
	Connect    int64 `json:"connect"`
	Read       int64 `json:"read"`
	Write      int64 `json:"write"`
	Status     int64 `json:"status"`
	Timeout    int64 `json:"timeout"`
	P50US      int64 `json:"p50_us"`
	P99US      int64 `json:"p99_us"`
	MaxUS      int64 `json:"max_us"`
}

// rps is requests per second over the run.
func (w wrkResult) rps() float64 {
	if w.DurationUS <= 0 {
		return 0
	}
	return float64(w.Requests) / (float64(w.DurationUS) / 1e6)
}

// errors counts responses with a status above 399 and socket errors.
func (w wrkResult) errors() int64 {
	return w.Status + w.Connect + w.Read + w.Write + w.Timeout
}

// parseWrk finds the report line in wrk's output.
func parseWrk(out string) (wrkResult, error) {
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, `{"bench":`) {
			continue
		}
		var r wrkResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return wrkResult{}, fmt.Errorf("wrk report line %q: %w", line, err)
		}
		return r, nil
	}
	return wrkResult{}, errors.New("wrk printed no report line")
}

// wrkRun is one wrk invocation.
type wrkRun struct {
	bin, script string
	threads     int
	conns       int
	duration    time.Duration
	url         string
	headers     []string // "Name: value"
}

func (w wrkRun) args() []string {
	secs := max(1, int(w.duration.Round(time.Second)/time.Second))
	args := []string{
		"-t" + strconv.Itoa(w.threads), "-c" + strconv.Itoa(w.conns), "-d" + strconv.Itoa(secs) + "s",
		"--timeout", "5s", "-s", w.script,
	}
	for _, h := range w.headers {
		args = append(args, "-H", h)
	}
	return append(args, w.url)
}

func (w wrkRun) run(ctx context.Context) (wrkResult, error) {
	// Bounded: wrk stops itself after duration; the margin covers a stuck
	// connection's timeout.
	ctx, cancel := context.WithTimeout(ctx, w.duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, w.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(w.args(), " "), err, out)
	}
	return parseWrk(string(out))
}
