package ports

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

func TestCursorRoundTrip(t *testing.T) {
	c := &Cursor{Time: time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC), ID: "key_abc"}
	got, err := ParseCursor(c.String())
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Fatalf("ParseCursor(String()) = %+v, %v; want %+v", got, err, c)
	}
	if (*Cursor)(nil).String() != "" {
		t.Error("a nil cursor is not empty")
	}
	if got, err := ParseCursor(""); got != nil || err != nil {
		t.Errorf(`ParseCursor("") = %v, %v; want the first page`, got, err)
	}
	for _, bad := range []string{"!", "bm9kb3Q", "LmtleQ", "eC5rZXk", strings.Repeat("A", maxCursorLen+1)} {
		var ve *apikey.ValidationError
		if _, err := ParseCursor(bad); !errors.As(err, &ve) || ve.Code != "invalid_cursor" {
			t.Errorf("ParseCursor(%q) = %v, want invalid_cursor", bad, err)
		}
	}
}
