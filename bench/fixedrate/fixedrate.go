// Package fixedrate is an open-loop HTTP/1.1 load generator: it sends
// requests at a fixed rate over a fixed set of keep-alive connections and
// measures each request's latency from the moment it was due, not from
// the moment it was sent. A slow response therefore shows in every
// request that had to wait behind it (no coordinated omission), which
// closed-loop tools such as wrk cannot measure.
//
// The benchmark harness uses it for the fixed-rate latency run.
package fixedrate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options describe a run.
type Options struct {
	// URL is an http:// URL; its path and query are requested with GET.
	URL string
	// Header is sent with every request.
	Header http.Header
	// Rate is requests per second; must be > 0.
	Rate float64
	// Duration is how long requests are scheduled for; must be > 0.
	Duration time.Duration
	// Conns is the number of keep-alive connections. Default 64.
	Conns int
	// Timeout bounds one request, from its send. Default 5s.
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	// Scheduled is the number of requests due in Duration; Sent of them
	// were sent (all, unless the context ended the run).
	Scheduled, Sent int
	// OK counts 2xx responses; Errors counts the rest: other statuses,
	// broken connections and timeouts.
	OK, Errors int
	// Latencies of the OK responses, each from its due time to the end of
	// its body, in completion order.
	Latencies []time.Duration
	// MaxLate is the longest a request waited past its due time before it
	// was written: the generator's own backlog, included in Latencies.
	MaxLate time.Duration
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// Percentile returns the q-quantile (0 < q <= 1) of the OK latencies by
// the nearest-rank method; 0 when there are none.
func (r *Result) Percentile(q float64) time.Duration {
	return Percentile(r.Latencies, q)
}

// Percentile returns the q-quantile of d by the nearest-rank method; d is
// not modified. It returns 0 for an empty d.
func Percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(q*float64(len(s)) + 0.9999999)
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Run sends Rate×Duration requests, one due every 1/Rate seconds, and
// returns when every one has been answered or has failed, or ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return nil, errors.New("fixedrate: Rate and Duration must be positive")
	}
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("fixedrate: want an http:// URL, got %q", o.URL)
	}
	req := requestBytes(u, o.Header)
	total := int(o.Rate * o.Duration.Seconds())
	period := time.Duration(float64(time.Second) / o.Rate)

	// Every connection is open before the clock starts, so dialing is not
	// measured.
	conns := make([]*conn, o.Conns)
	for i := range conns {
		c, err := dial(ctx, u.Host)
		if err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return nil, err
		}
		conns[i] = c
	}

	res := &Result{Scheduled: total, Latencies: make([]time.Duration, 0, total)}
	due := make(chan int, total)
	var (
		mu      sync.Mutex
		maxLate atomic.Int64
		sent    atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			for i := range due {
				at := start.Add(time.Duration(i) * period)
				for late := int64(time.Since(at)); ; {
					old := maxLate.Load()
					if late <= old || maxLate.CompareAndSwap(old, late) {
						break
					}
				}
				sent.Add(1)
				ok := c.do(ctx, u.Host, req, o.Timeout)
				d := time.Since(at)
				mu.Lock()
				if ok {
					res.OK++
					res.Latencies = append(res.Latencies, d)
				} else {
					res.Errors++
				}
				mu.Unlock()
			}
		}()
	}

	// The pacer hands out due indexes; a connection that is free takes the
	// next one. When all are busy the indexes wait in the channel and their
	// waiting counts in their latency.
pace:
	for i := range total {
		sleepUntil(start.Add(time.Duration(i) * period))
		select {
		case <-ctx.Done():
			break pace
		default:
		}
		due <- i
	}
	close(due)
	wg.Wait()
	res.Sent = int(sent.Load())
	res.MaxLate = time.Duration(maxLate.Load())
	res.Elapsed = time.Since(start)
	return res, ctx.Err()
}

func requestBytes(u *url.URL, h http.Header) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gantry-bench\r\n", u.RequestURI(), u.Host)
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

type conn struct {
	nc net.Conn
	br *bufio.Reader
}

func dial(ctx context.Context, host string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("fixedrate: dialing %s: %w", host, err)
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}

// do sends one request and reads the whole response; it reports whether
// the status was 2xx. After any failure the connection is replaced.
func (c *conn) do(ctx context.Context, host string, req []byte, timeout time.Duration) bool {
	if c.nc == nil {
		nc, err := dial(ctx, host)
		if err != nil {
			return false
		}
		*c = *nc
	}
	c.nc.SetDeadline(time.Now().Add(timeout))
	if _, err := c.nc.Write(req); err != nil {
		c.reset()
		return false
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.reset()
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.reset()
	}
	return err == nil && resp.StatusCode >= 200 && resp.StatusCode <= 299
}

func (c *conn) reset() {
	c.close()
	c.nc, c.br = nil, nil
}
