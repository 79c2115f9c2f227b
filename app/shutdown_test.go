package app

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestClosersRunInReverseAndJoinErrors(t *testing.T) {
	var order []string
	var c closers
	for _, name := range []string{"store", "queue", "http"} {
		c.add(name, func(context.Context) error {
			order = append(order, name)
			if name == "queue" {
				return errors.New("flush failed")
			}
			return nil
		})
	}
	err := c.close(context.Background())
	if strings.Join(order, ",") != "http,queue,store" {
		t.Errorf("closed in order %v, want http,queue,store", order)
	}
	if err == nil || err.Error() != "queue: flush failed" {
		t.Errorf("err = %v, want the queue's error named", err)
	}
	order = nil
	if err := c.close(context.Background()); err != nil || len(order) != 0 {
		t.Errorf("second close ran %v, %v", order, err)
	}
}
