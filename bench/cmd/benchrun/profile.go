package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/bench"
)

// profile runs the plain scenario against gantryprof: warm up, profile one
// wrk run, then print the top CPU and allocation sites and the allocations
// per request. The profiles stay in -profile's directory for `go tool
// pprof`.
func (h *harness) profile(ctx context.Context) error {
	dir, err := filepath.Abs(h.o.profile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	script := h.path("report.lua")
	if err := os.WriteFile(script, []byte(bench.WrkScript), 0o644); err != nil {
		return err
	}
	if err := h.startUpstream(); err != nil {
		return err
	}
	var s *scenario
	for _, sc := range scenarios() {
		if sc.key == "plain" {
			s = sc
		}
	}
	path, err := h.writeConfig(s)
	if err != nil {
		return err
	}
	cmd := exec.Command(h.o.gantryprof, "-c", path, "-access-log", orOff(h.accessLogPath("gantryprof")), "-out", dir, "-memprofilerate", strconv.Itoa(h.o.memProfileRate))
	cmd.Env = h.gatewayEnv(s)
	logFile, err := os.Create(h.path("gantryprof.log"))
	if err != nil {
		return err
	}
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	p, err := h.ps.start("gantryprof", cmd)
	if err != nil {
		return err
	}
	line, before, err := readLineUntil(stderr, logFile, time.Minute, func(l string) bool { return strings.Contains(l, `"msg":"gantry started"`) })
	if err != nil {
		return fmt.Errorf("gantryprof did not start: %v: %s", err, firstLines(before, 3))
	}
	var started struct {
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		return err
	}
	s.url = "http://" + started.Listen + s.path
	if err := check(ctx, s); err != nil {
		return err
	}
	if _, err := h.wrk(s, h.o.warmup).run(ctx); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, "stats.json"))
	p.cmd.Process.Signal(syscall.SIGUSR1)
	time.Sleep(200 * time.Millisecond) // the first profile snapshot is taken
	res, err := h.wrk(s, h.o.duration).run(ctx)
	if err != nil {
		return err
	}
	p.cmd.Process.Signal(syscall.SIGUSR2)
	statsPath := filepath.Join(dir, "stats.json")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(statsPath); err == nil {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			return fmt.Errorf("gantryprof wrote no profiles (see its log in %s)", h.tmp)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop(syscall.SIGTERM, 10*time.Second)

	var st struct {
		Mallocs    uint64  `json:"mallocs"`
		AllocBytes uint64  `json:"alloc_bytes"`
		GCCycles   uint32  `json:"gc_cycles"`
		GCPauseNS  uint64  `json:"gc_pause_ns"`
		Seconds    float64 `json:"seconds"`
	}
	b, err := os.ReadFile(statsPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	n := float64(max(res.Requests, 1))
	fmt.Printf("## Profile of gantry plain under wrk -t1 -c%d -d%s\n\n", h.o.conns, h.o.duration)
	fmt.Printf("%.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d\n", res.rps(), float64(res.P50US)/1000, float64(res.P99US)/1000, res.errors())
	fmt.Printf("allocations: %.1f per request, %.0f bytes per request; %d GC cycles (%.1f per 10k requests), GC pauses %.1f ms in all\n\n",
		float64(st.Mallocs)/n, float64(st.AllocBytes)/n, st.GCCycles, float64(st.GCCycles)/n*1e4, float64(st.GCPauseNS)/1e6)
	bin, _ := filepath.Abs(h.o.gantryprof)
	views := []struct {
		title, file string
		args        []string
	}{
		{"CPU, by flat time", "cpu-flat.txt", []string{"-top", "-nodecount=30", bin, filepath.Join(dir, "cpu.pprof")}},
		{"CPU, by cumulative time", "cpu-cum.txt", []string{"-top", "-cum", "-nodecount=40", bin, filepath.Join(dir, "cpu.pprof")}},
		{"allocated objects in the window", "alloc-objects.txt", []string{"-top", "-nodecount=30", "-sample_index=alloc_objects", "-base", filepath.Join(dir, "allocs-start.pprof"), bin, filepath.Join(dir, "allocs.pprof")}},
		{"allocated bytes in the window", "alloc-bytes.txt", []string{"-top", "-nodecount=20", "-sample_index=alloc_space", "-base", filepath.Join(dir, "allocs-start.pprof"), bin, filepath.Join(dir, "allocs.pprof")}},
		{"mutex contention", "mutex.txt", []string{"-top", "-nodecount=15", bin, filepath.Join(dir, "mutex.pprof")}},
	}
	for _, v := range views {
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, v.args...)...).CombinedOutput()
		fmt.Printf("### %s\n\n```\n%s```\n\n", v.title, out)
		if err != nil {
			logf("go tool pprof %s: %v", v.title, err)
		}
		os.WriteFile(filepath.Join(dir, v.file), out, 0o644)
	}
	logf("profiles in %s (go tool pprof -http=: %s %s)", dir, bin, filepath.Join(dir, "cpu.pprof"))
	return nil
}
