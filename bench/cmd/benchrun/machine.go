package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
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
	// haproxyVersion, and the Go peers' when they run ("" when not).
	haproxyVersion               string
	caddyVersion, traefikVersion string
	loadStart, loadEnd           string
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
	if o.haproxy != "" {
		m.haproxyVersion = haproxyVersion(output(o.haproxy, "-v"))
	}
	if o.caddy != "" {
		m.caddyVersion = "Caddy " + moduleVersion(o.caddy, "github.com/caddyserver/caddy/v2")
	}
	if o.traefik != "" {
		m.traefikVersion = "Traefik " + moduleVersion(o.traefik, "github.com/traefik/traefik/v3")
	}
	return m
}

// software lists the reference proxies' versions for the report.
func (m machine) software() string {
	parts := []string{m.nginxVersion}
	for _, v := range []string{m.haproxyVersion, m.caddyVersion, m.traefikVersion} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, "; ")
}

var haproxyVersionRE = regexp.MustCompile(`HAProxy version (\S+)`)

// haproxyVersion picks the version from `haproxy -v`: "HAProxy version
// 2.6.12-1+deb12u4 2025/10/17 - https://haproxy.org/".
func haproxyVersion(out string) string {
	if m := haproxyVersionRE.FindStringSubmatch(out); m != nil {
		return "HAProxy " + m[1]
	}
	return "HAProxy (unknown version)"
}

// moduleVersion is the version of module path built into the Go binary
// bin. The Go peers are built from bench/peers as dependencies of a module
// of ours, so their own version commands know no release ("unknown",
// "dev"); the build information does.
func moduleVersion(bin, path string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "(unknown version)"
	}
	for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
		if m.Path == path {
			return m.Version
		}
	}
	return "(unknown version)"
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
