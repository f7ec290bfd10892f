package outbox

import (
	dto "github.com/prometheus/client_model/go"
)

// Published is the value of the published-events counter.
func (r *Relay) Published() int { return counterValue(r.m.published.Write) }

// PublishErrors is the value of the publish-errors counter.
func (r *Relay) PublishErrors() int { return counterValue(r.m.publishErrors.Write) }

func counterValue(write func(*dto.Metric) error) int {
	var m dto.Metric
	if err := write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}
