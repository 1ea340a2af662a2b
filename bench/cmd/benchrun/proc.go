package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs tracks every process the harness starts, so each is stopped by its
// PID on every way out: normal end, failure, or a signal.
type procs struct {
	mu   sync.Mutex
	list []*proc
	// after run once every process has stopped: the in-process servers
	// the processes talk to (the tracing scenarios' collectors), so a
	// last request at shutdown still finds them.
	after []func()
}

// afterStop makes stopAll call f once every process has stopped.
func (ps *procs) afterStop(f func()) {
	ps.mu.Lock()
	ps.after = append(ps.after, f)
	ps.mu.Unlock()
}

// proc is one started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, once done is closed
	// extra are PIDs the process started that must not outlive it (NGINX
	// workers).
	extra []int
}

// start starts cmd and tracks it until stopAll.
func (ps *procs) start(name string, cmd *exec.Cmd) (*proc, error) {
	// Pdeathsig is a backstop for a harness killed by SIGKILL: the child
	// gets SIGKILL too. Setpgid gives the child a process group of its own
	// (its PID), so its own children (NGINX workers) can be stopped with
	// it, and a Ctrl-C in the terminal reaches only the harness, which
	// stops everything in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then SIGKILLs the process. Its own
// children (extra) that are still alive are then killed too.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if !p.exited() {
		p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(grace):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	for _, pid := range p.extra {
		// Only a PID still running the same program is ours; a recycled
		// PID is left alone.
		if st, err := readStat(pid); err == nil && st.comm == filepath.Base(p.cmd.Path) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// stopAll stops every tracked process, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list, after := ps.list, ps.after
	ps.list, ps.after = nil, nil
	ps.mu.Unlock()
	// SIGTERM is a fast stop for every program here, NGINX included
	// (SIGQUIT would wait for idle keep-alive connections).
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(syscall.SIGTERM, 10*time.Second)
	}
	for _, f := range after {
		f()
	}
}

// readLineUntil reads r line by line until match returns true for a line
// or the process ends; the rest of r goes to sink. It returns the matching
// line and everything read before it.
func readLineUntil(r io.Reader, sink io.Writer, timeout time.Duration, match func(string) bool) (string, string, error) {
	type result struct {
		line, before string
		err          error
	}
	ch := make(chan result, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var before strings.Builder
		found := false
		for sc.Scan() {
			line := sc.Text()
			if !found && match(line) {
				found = true
				ch <- result{line: line, before: before.String()}
				continue
			}
			if found {
				fmt.Fprintln(sink, line)
			} else {
				before.WriteString(line)
				before.WriteByte('\n')
			}
		}
		if !found {
			err := sc.Err()
			if err == nil {
				err = io.EOF
			}
			ch <- result{before: before.String(), err: err}
		}
		// Keep draining so the child never blocks on a full pipe.
		io.Copy(sink, r)
	}()
	select {
	case res := <-ch:
		return res.line, res.before, res.err
	case <-time.After(timeout):
		return "", "", fmt.Errorf("no ready line after %v", timeout)
	}
}

// procStat is what the harness reads from /proc/PID/stat.
type procStat struct {
	comm         string
	ppid         int
	utime, stime uint64 // clock ticks
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses /proc/PID/stat (proc(5)). The command name is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, errors.New("short /proc stat")
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("parsing /proc stat: %w", err)
	}
	return procStat{comm: string(b[open+1 : end]), ppid: ppid, utime: ut, stime: st}, nil
}

// cpuTicks sums utime+stime over pids.
func cpuTicks(pids []int) (uint64, error) {
	var sum uint64
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			return 0, err
		}
		sum += st.utime + st.stime
	}
	return sum, nil
}

// rssBytes sums VmRSS over pids.
func rssBytes(pids []int) (uint64, error) {
	var sum uint64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, err
		}
		v, err := parseVmRSS(b)
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", pid, err)
		}
		sum += v
	}
	return sum, nil
}

// parseVmRSS returns the VmRSS line of /proc/PID/status in bytes.
func parseVmRSS(status []byte) (uint64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line")
}

// children lists the PIDs whose parent is pid.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(c); err == nil && st.ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of utime and stime.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100 // USER_HZ on every mainstream Linux build
}
