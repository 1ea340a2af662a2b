package upstream

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// resolveTimeout bounds one lookup.
const resolveTimeout = 5 * time.Second

// Start puts the pool in force, until ctx ends: it publishes its targets'
// health, clears a stale "unhealthy" verdict when the upstream no longer has
// active checks (nothing else would ever clear it), and re-resolves
// hostname targets every StateOptions.ResolveEvery. The server calls it
// when the pool's generation is swapped in, never for a validate-only
// compile.
//
// DNS: an http:// or h2c:// target whose host is a name (not an IP address,
// not localhost) becomes one target per address the name resolves to, each
// connecting to its address and sending the name as Host. When a lookup
// fails or returns nothing, the last good set stays. https:// targets are
// not expanded: the TLS handshake needs the name, and the transport
// resolves it per connection.
func (p *Pool) Start(ctx context.Context) {
	for _, t := range p.Targets() {
		if p.health == nil && t.state.down.Load() {
			t.state.setHealthy(true)
		}
		t.state.publish()
	}
	if !slices.ContainsFunc(p.configured, resolvable) {
		return
	}
	go func() {
		p.refresh(ctx)
		tick := time.NewTicker(p.state.resolveEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				p.refresh(ctx)
			}
		}
	}()
}

// resolvable reports whether t's host is a name DNS should expand.
func resolvable(t *Target) bool {
	if t.URL.Scheme == "https" {
		return false
	}
	h := strings.ToLower(t.URL.Hostname())
	if _, err := netip.ParseAddr(h); err == nil {
		return false
	}
	// localhost resolves to ::1 and 127.0.0.1, and a test server listens
	// on one of them only.
	return h != "localhost" && !strings.HasSuffix(h, ".localhost")
}

// refresh resolves the pool's hostname targets once and swaps in a new
// target set when the addresses changed. The last good addresses are kept
// in the State, so a failed lookup keeps them and a reload starts from them.
func (p *Pool) refresh(ctx context.Context) {
	for _, t := range p.configured {
		if !resolvable(t) {
			continue
		}
		if addrs := p.resolve(ctx, t); len(addrs) > 0 {
			p.state.setAddrs(Key{p.Name, t.Name}, addrs)
		}
	}
	targets := p.expand()
	old := p.set.Load()
	if slices.EqualFunc(old.targets, targets, func(a, b *Target) bool { return a.Name == b.Name }) || ctx.Err() != nil {
		return
	}
	set, err := p.newSet(targets)
	if err != nil {
		return
	}
	p.set.Store(set)
	keep := make(map[string]bool, len(set.targets))
	for _, t := range set.targets {
		keep[t.Name] = true
		t.state.publish()
	}
	for _, t := range old.targets {
		if !keep[t.Name] {
			p.state.drop(Key{p.Name, t.Name})
		}
	}
}

// expand returns the configured targets with every hostname target that
// has known addresses replaced by one target per address.
func (p *Pool) expand() []*Target {
	var out []*Target
	for _, t := range p.configured {
		addrs := p.state.addrsOf(Key{p.Name, t.Name})
		if len(addrs) == 0 || !resolvable(t) {
			out = append(out, t)
			continue
		}
		for _, a := range addrs {
			out = append(out, t.withAddr(a))
		}
	}
	return out
}

// resolve returns t's addresses as sorted host:port strings, nil on failure.
func (p *Pool) resolve(ctx context.Context, t *Target) []string {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := p.state.resolver.LookupNetIP(ctx, "ip", t.URL.Hostname())
	if err != nil {
		return nil
	}
	port := t.URL.Port()
	if port == "" {
		port = "80"
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.Unmap().String(), port))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
