package upstream

import (
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// newAttemptsPool builds a pool of n targets whose budget holds tokens and
// stands still (a stopped clock adds nothing), and where one failure ejects
// a target, so a test can see which targets a report reached.
func newAttemptsPool(t *testing.T, n int, tokens int64) *Pool {
	t.Helper()
	weights := make([]int, n)
	for i := range weights {
		weights[i] = 1
	}
	p := newPoolOn(t, nil, &config.Upstream{Passive: &config.Passive{Failures: 1, EjectFor: config.Duration(time.Hour)}}, weights...)
	now := time.Unix(1_800_000_000, 0)
	p.budget = newRetryBudget(func() time.Time { return now })
	p.budget.balance.Store(tokens * token)
	return p
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	const deposit = int64(BudgetRatio * token)
	tests := []struct {
		name    string
		targets int
		tokens  int64
		// allow is the AllowRetries argument, -1 for no call.
		allow int
		// early asks for the next target between Begin and Done, as the
		// proxy does before it discards a 502.
		early        bool
		wantAttempts int
		wantBalance  int64
	}{
		{name: "retries not allowed: no deposit, one attempt", targets: 3, tokens: 3, allow: -1,
			wantAttempts: 1, wantBalance: 3 * token},
		{name: "zero retries: no deposit", targets: 3, tokens: 3, allow: 0,
			wantAttempts: 1, wantBalance: 3 * token},
		{name: "retries within the budget", targets: 4, tokens: 3, allow: 2,
			wantAttempts: 3, wantBalance: 3*token + deposit - 2*token},
		{name: "budget exhausted stops retries", targets: 4, tokens: 1, allow: 3,
			wantAttempts: 2, wantBalance: token + deposit - token},
		{name: "empty budget: deposit only", targets: 4, tokens: 0, allow: 3,
			wantAttempts: 1, wantBalance: deposit},
		{name: "max retries respected", targets: MaxRetries + 3, tokens: 30, allow: MaxRetries + 5,
			wantAttempts: MaxRetries + 1, wantBalance: budgetCap - MaxRetries*token},
		{name: "retries stop at the configured count", targets: 6, tokens: 10, allow: 2,
			wantAttempts: 3, wantBalance: 10*token + deposit - 2*token},
		{name: "tried targets never repeated", targets: 3, tokens: 10, allow: 5,
			wantAttempts: 3, wantBalance: 10*token + deposit - 2*token},
		{name: "tried targets never repeated, asked mid-attempt", targets: 3, tokens: 10, allow: 5, early: true,
			wantAttempts: 3, wantBalance: 10*token + deposit - 2*token},
		{name: "one target: no token spent on nothing", targets: 1, tokens: 3, allow: 3,
			wantAttempts: 1, wantBalance: 3*token + deposit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newAttemptsPool(t, tt.targets, tt.tokens)
			at, err := p.Attempts(nil)
			if err != nil {
				t.Fatalf("Attempts() error = %v", err)
			}
			if tt.allow >= 0 {
				at.AllowRetries(tt.allow)
			}
			var tried []*Target
			seen := map[*Target]bool{}
			for {
				tg := at.Begin()
				if tg == nil {
					t.Fatal("Begin() = nil with a target pending")
				}
				if seen[tg] {
					t.Fatalf("attempt %d went to %s again", at.N(), tg.Name)
				}
				seen[tg] = true
				tried = append(tried, tg)
				if got := at.N(); got != len(tried) {
					t.Errorf("N() = %d, want %d", got, len(tried))
				}
				if at.Target() != tg || tg.InFlight() != 1 {
					t.Errorf("Target() = %s, in flight %d; want %s, 1", at.Target().Name, tg.InFlight(), tg.Name)
				}
				var next *Target
				if tt.early {
					next = at.Next()
					// Asking again must not spend another token.
					if again := at.Next(); again != next {
						t.Fatalf("Next() again = %v, want %v", again, next)
					}
				}
				// Every attempt fails until the last, which succeeds: a
				// failure ejects exactly the target it is reported to.
				last := len(tried) == tt.wantAttempts
				if last {
					at.Done(200, Success)
				} else {
					at.Done(503, Failure)
				}
				if !tt.early {
					next = at.Next()
					if again := at.Next(); again != next {
						t.Fatalf("Next() again = %v, want %v", again, next)
					}
				}
				if next == nil {
					break
				}
				if last {
					t.Fatalf("Next() = %s after %d attempts, want nil", next.Name, len(tried))
				}
			}
			if len(tried) != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", len(tried), tt.wantAttempts)
			}
			if got := p.budget.balance.Load(); got != tt.wantBalance {
				t.Errorf("budget balance = %d, want %d", got, tt.wantBalance)
			}
			for i, tg := range tried {
				wantEjected := i < len(tried)-1
				if got := !tg.Healthy(); got != wantEjected {
					t.Errorf("attempt %d target %s ejected = %v, want %v (reports reach the wrong target)", i+1, tg.Name, got, wantEjected)
				}
			}
			for _, tg := range p.Targets() {
				if !seen[tg] && !tg.Healthy() {
					t.Errorf("untried target %s ejected", tg.Name)
				}
				if n := tg.InFlight(); n != 0 {
					t.Errorf("target %s in flight %d after Done, want 0", tg.Name, n)
				}
			}
		})
	}
}

func TestAttemptsNoHealthyUpstream(t *testing.T) {
	t.Parallel()
	p := newAttemptsPool(t, 2, 3)
	for _, tg := range p.Targets() {
		tg.SetHealthy(false)
	}
	if _, err := p.Attempts(nil); !errors.Is(err, ErrNoHealthyUpstream) {
		t.Fatalf("Attempts() error = %v, want ErrNoHealthyUpstream", err)
	}
	if got := p.budget.balance.Load(); got != 3*token {
		t.Errorf("budget balance = %d, want %d: nothing is deposited for a request that is not sent", got, 3*token)
	}
}

// TestAttemptsLatency: Done reports the time to the answer when Answered
// was called, else the time to Done; the peak-EWMA cost shows which.
func TestAttemptsLatency(t *testing.T) {
	t.Parallel()
	p := newAttemptsPool(t, 1, 0)
	at, err := p.Attempts(nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := at.Begin()
	at.Answered()
	time.Sleep(50 * time.Millisecond)
	at.Done(200, Success)
	if c := time.Duration(tg.Cost()); c <= 0 || c >= 50*time.Millisecond {
		t.Errorf("cost after an answer at once = %v, want under 50ms", c)
	}
}

func TestAttemptsFirstAttemptZeroAllocs(t *testing.T) {
	p := newAttemptsPool(t, 3, 30)
	n := testing.AllocsPerRun(100, func() {
		at, err := p.Attempts(nil)
		if err != nil {
			t.Fatal(err)
		}
		at.AllowRetries(2)
		at.Begin()
		at.Answered()
		at.Done(200, Success)
	})
	if n != 0 {
		t.Errorf("a first attempt allocates %v times, want 0", n)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		status                        int
		clientFault, canceled, failed bool
		want                          Outcome
	}{
		{name: "answer", status: 200, want: Success},
		{name: "4xx answer", status: 404, want: Success},
		{name: "answer the caller rejects", status: 200, want: Success},
		{name: "5xx answer", status: 503, want: Failure},
		{name: "no answer", failed: true, want: Failure},
		{name: "answer body broken", status: 200, failed: true, want: Failure},
		{name: "client body failed under a 5xx", status: 502, clientFault: true, want: Canceled},
		{name: "client body failed without an answer", clientFault: true, failed: true, want: Canceled},
		{name: "client gone without an answer", canceled: true, failed: true, want: Canceled},
		{name: "client gone after a 5xx", status: 500, canceled: true, want: Failure},
		{name: "client gone during the body", status: 200, canceled: true, failed: true, want: Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.status, tt.clientFault, tt.canceled, tt.failed); got != tt.want {
				t.Errorf("Classify(%d, %v, %v, %v) = %d, want %d", tt.status, tt.clientFault, tt.canceled, tt.failed, got, tt.want)
			}
		})
	}
}
