package paging

import (
	"errors"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

func TestSize(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, 20}, {1, 1}, {20, 20}, {99, 99}, {100, 100}, {101, 100}, {1 << 30, 100}} {
		if got, err := Size(c.n, 20, 100); err != nil || got != c.want {
			t.Errorf("Size(%d) = %d, %v; want %d", c.n, got, err, c.want)
		}
	}
	_, err := Size(-1, 20, 100)
	var ve *apikey.ValidationError
	if !errors.As(err, &ve) || ve.Field != "limit" || ve.Code != "invalid_request" {
		t.Fatalf("Size(-1) error = %v", err)
	}
}
