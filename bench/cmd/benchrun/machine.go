package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the numbers were measured.
type machine struct {
	cpus                     int
	cpuModel, kernel, memory string
	goVersion, gantryVersion string
	nginxVersion, wrkVersion string
	loadStart, loadEnd       string
}

func readMachine(o options) machine {
	m := machine{
		cpus:          runtime.NumCPU(),
		cpuModel:      cpuModel(),
		kernel:        strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		memory:        memTotal(),
		goVersion:     runtime.Version(),
		gantryVersion: firstLines(output(o.gantry, "version"), 1),
		nginxVersion:  strings.TrimPrefix(firstLines(output(o.nginx, "-v"), 1), "nginx version: "),
		wrkVersion:    wrkVersion(output(o.wrk, "-v")),
		loadStart:     loadAverage(),
	}
	return m
}

func (m machine) summary() string {
	return fmt.Sprintf("%d × %s, Linux %s, %s", m.cpus, m.cpuModel, m.kernel, m.memory)
}

// busy reports a one-minute load average above three quarters of the CPUs
// before the run: something else is competing for them.
func (m machine) busy() bool {
	f := strings.Fields(m.loadStart)
	if len(f) == 0 {
		return false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return err == nil && l > 0.75*float64(m.cpus)
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// output runs a short command and returns stdout and stderr together
// (nginx -v prints on stderr).
func output(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

var wrkVersionRE = regexp.MustCompile(`wrk (\S+)`)

func wrkVersion(out string) string {
	if m := wrkVersionRE.FindStringSubmatch(out); m != nil {
		return "wrk " + m[1]
	}
	return "wrk (unknown version)"
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	for line := range strings.SplitSeq(readFile("/proc/meminfo"), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
				return fmt.Sprintf("%.0f GiB RAM", kb/(1<<20))
			}
		}
	}
	return "unknown RAM"
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
