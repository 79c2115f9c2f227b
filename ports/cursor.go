package ports

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// maxCursorLen bounds the token ParseCursor reads.
const maxCursorLen = 256

// String returns c as the opaque token every adapter hands its callers
// (the API's next_cursor, the console's links): the position's time in
// microseconds and its id, base64url-encoded. A nil cursor is "".
func (c *Cursor) String() string {
	if c == nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Time.UnixMicro(), 10) + "." + c.ID))
}

// ParseCursor reads a token Cursor.String made; "" is the first page
// (nil). Anything else is a *apikey.ValidationError with code
// invalid_cursor; the use cases check the position itself (its id's kind,
// its time's range).
func ParseCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := &apikey.ValidationError{Field: "cursor", Code: "invalid_cursor", Message: "cursor is not one this API returned"}
	if len(s) > maxCursorLen {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ts, id, ok := strings.Cut(string(raw), ".")
	if !ok || id == "" {
		return nil, bad
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, bad
	}
	return &Cursor{Time: time.UnixMicro(us).UTC(), ID: id}, nil
}
