package bus

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retry number attempt (1, 2, …): it doubles
// from lo up to hi, then picks a random delay in [d/2, d] so that many
// clients, replicas or restarts do not retry in step.
func Backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := hi
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 32 {
		if b := lo << (attempt - 1); b > 0 && b < hi {
			d = b
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
