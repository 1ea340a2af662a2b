package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// goBench is the router's Match benchmark on 10,000 routes.
type goBench struct {
	cases []goBenchCase
}

type goBenchCase struct {
	name    string
	nsPerOp float64
	allocs  int64
}

const goBenchPattern = "^BenchmarkMatch$/^routes=10000$/"

func runGoBench(ctx context.Context, root string) (*goBench, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", goBenchPattern, "-benchmem", "-benchtime", "200000x", "./internal/router")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test: %w\n%s", err, out)
	}
	cases := parseGoBench(string(out))
	if len(cases) == 0 {
		return nil, errors.New("no benchmark results in go test's output")
	}
	return &goBench{cases: cases}, nil
}

// parseGoBench reads "BenchmarkMatch/routes=10000/static-2  200000
// 256.3 ns/op  0 B/op  0 allocs/op" lines; the name keeps what follows
// "routes=10000/" without the GOMAXPROCS suffix.
func parseGoBench(out string) []goBenchCase {
	var cases []goBenchCase
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "BenchmarkMatch/") || f[3] != "ns/op" || f[7] != "allocs/op" {
			continue
		}
		name := f[0][strings.LastIndexByte(f[0], '/')+1:]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		ns, err1 := strconv.ParseFloat(f[2], 64)
		allocs, err2 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		cases = append(cases, goBenchCase{name: name, nsPerOp: ns, allocs: allocs})
	}
	return cases
}

// worst returns the slowest case's time and the most allocations of any.
func (g *goBench) worst() (ns float64, allocs int64) {
	for _, c := range g.cases {
		ns = max(ns, c.nsPerOp)
		allocs = max(allocs, c.allocs)
	}
	return ns, allocs
}
