package metrics

import (
	"context"
	"sync"
	"time"
)

// cachedCount calls fn at most once per every and remembers the answer.
type cachedCount struct {
	fn    func(context.Context) (int, error)
	every time.Duration

	mu   sync.Mutex
	at   time.Time
	last float64
}

func (c *cachedCount) get() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.every {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.fn(ctx)
	c.at, c.last = time.Now(), float64(n)
	if err != nil {
		c.last = -1
	}
	return c.last
}
