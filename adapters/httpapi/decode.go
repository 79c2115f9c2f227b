package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// decodeJSON reads the request body into dst strictly: JSON only, no
// unknown fields, no trailing data, at most maxBody bytes. It answers the
// error itself and returns false when the body is unacceptable.
func (s *Server) decodeJSON(c *gin.Context, dst any) bool {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			abort(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json", "Content-Type")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			abort(c, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("request body must be at most %d bytes", s.maxBody), "")
			return false
		}
		abort(c, http.StatusBadRequest, "invalid_json", "could not read the request body", "")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		abort(c, http.StatusBadRequest, "invalid_json", "request body must be a JSON object", "")
		return false
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn the bytes into U+FFFD.
		field := invalidUTF8Member(body)
		msg := "request body must be valid UTF-8"
		if field != "" {
			msg = field + " is not valid UTF-8"
		}
		abort(c, http.StatusBadRequest, "invalid_json", msg, field)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		code, msg, field := describeJSONError(err)
		abort(c, http.StatusBadRequest, code, msg, field)
		return false
	}
	if dec.More() {
		abort(c, http.StatusBadRequest, "invalid_json", "request body must hold exactly one JSON object", "")
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		abort(c, http.StatusBadRequest, "invalid_json", "request body must hold exactly one JSON object", "")
		return false
	}
	return true
}

// invalidUTF8Member names the first member (in name order) of a JSON
// object whose value holds bytes that are not UTF-8; "" when body is not
// an object or the bytes are elsewhere.
func invalidUTF8Member(body []byte) string {
	var members map[string]json.RawMessage // raw values keep their bytes
	if json.Unmarshal(body, &members) != nil {
		return ""
	}
	names := make([]string, 0, len(members))
	for name, raw := range members {
		if !utf8.Valid(raw) && utf8.ValidString(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

func describeJSONError(err error) (code, msg, field string) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "invalid_json", fmt.Sprintf("malformed JSON at byte %d", syn.Offset), ""
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "invalid_json", "request body must be a JSON object", ""
		}
		return "invalid_type", fmt.Sprintf("%s must be %s", typ.Field, jsonKind(typ.Type.String())), typ.Field
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid_json", "malformed JSON: unexpected end of input", ""
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return "unknown_field", fmt.Sprintf("unknown field %q", f), f
	}
	return "invalid_json", "malformed JSON", ""
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array of strings"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "bool"):
		return "a boolean"
	}
	return "of another type"
}

// parseTimeField parses an RFC 3339 timestamp named field, refusing it
// with code when it does not parse or lies outside the times every store
// can hold (apikey.ValidTime: years 1000 to 9999, in UTC).
func parseTimeField(field, code, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, &apikey.ValidationError{Field: field, Code: code, Message: field + " must be an RFC 3339 timestamp such as 2030-01-15T10:00:00Z"}
	}
	if !apikey.ValidTime(t) {
		return time.Time{}, &apikey.ValidationError{Field: field, Code: code,
			Message: fmt.Sprintf("%s must lie between %s and %s", field, apikey.MinTime.Format(time.RFC3339), apikey.MaxTime.Format(time.RFC3339))}
	}
	return t, nil
}

// encodeCursor makes the next_cursor of a page (ports.Cursor.String),
// null for the last page.
func encodeCursor(cur *ports.Cursor) *string {
	if cur == nil {
		return nil
	}
	s := cur.String()
	return &s
}

// decodeCursor reads a cursor parameter; "" means the first page.
func decodeCursor(s string) (*ports.Cursor, error) { return ports.ParseCursor(s) }

// parseLimit reads the limit query parameter; 0 means the default.
func parseLimit(c *gin.Context) (int, error) {
	v, ok := c.GetQuery("limit")
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, apikey.Invalid("limit", "limit must be a positive integer")
	}
	return n, nil
}

func parseBoolQuery(c *gin.Context, name string) (bool, error) {
	v, ok := c.GetQuery(name)
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apikey.Invalid(name, "%s must be true or false", name)
	}
	return b, nil
}
