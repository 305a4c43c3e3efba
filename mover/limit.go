package mover

import (
	"context"
	"math"
	"time"
)

// limiter paces work to rate units per second. It allows a burst of one
// second's worth and lets a single large request run into debt, which
// later requests wait off, so the average holds for files of any size.
// It is used by one goroutine at a time.
type limiter struct {
	rate   float64 // units per second; <= 0 is unlimited
	tokens float64
	last   time.Time
}

func newLimiter(rate float64) *limiter {
	return &limiter{rate: rate, tokens: rate, last: time.Now()}
}

// wait blocks until n units may be spent, then spends them.
func (l *limiter) wait(ctx context.Context, n float64) error {
	if l.rate <= 0 {
		return nil
	}
	now := time.Now()
	l.tokens = min(l.tokens+now.Sub(l.last).Seconds()*l.rate, l.rate)
	l.last = now
	if l.tokens < 0 {
		t := time.NewTimer(debtTime(-l.tokens, l.rate))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		l.tokens, l.last = 0, time.Now()
	}
	l.tokens -= n
	return nil
}

// debtTime is how long paying off debt units takes at rate, capped where
// a time.Duration ends: a tiny rate must mean a long wait, not a
// conversion that overflows into none.
func debtTime(debt, rate float64) time.Duration {
	secs := debt / rate
	if secs >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(secs * float64(time.Second))
}
