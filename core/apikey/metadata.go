package apikey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Limits of a key's metadata.
const (
	// MaxMetadataBytes is the largest metadata object, in bytes of its
	// compact JSON encoding.
	MaxMetadataBytes = 1024
	// MaxMetadataDepth is the deepest nesting of metadata: the object
	// itself is depth 1, an object or array in it depth 2, and so on.
	MaxMetadataDepth = 3
)

// Metadata is a key's free-form metadata: the compact JSON encoding of an
// object (members in the order given, no duplicate names), "" for none.
// It is stored with the key and shown with it, and never used for
// authorization.
type Metadata string

// IsZero reports whether m is no metadata.
func (m Metadata) IsZero() bool { return m == "" }

// invalidMetadata is the ValidationError of bad metadata.
func invalidMetadata(format string, args ...any) error {
	return &ValidationError{Field: "metadata", Code: "invalid_metadata", Message: fmt.Sprintf(format, args...)}
}

// ParseMetadata checks raw, the JSON text of a metadata object: an object
// (not null, not another type), no member name twice at any level, at most
// MaxMetadataDepth deep and MaxMetadataBytes long once compacted. It
// returns the compact form. An empty object is no metadata (""). The
// error is a ValidationError with code invalid_metadata.
func ParseMetadata(raw []byte) (Metadata, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return "", invalidMetadata("metadata must be a JSON object")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return "", invalidMetadata("metadata must be a JSON object")
	}
	if err := checkObject(dec, 1); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", invalidMetadata("metadata must be one JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", invalidMetadata("metadata must be a JSON object")
	}
	if buf.Len() > MaxMetadataBytes {
		return "", invalidMetadata("metadata must be at most %d bytes of JSON, got %d", MaxMetadataBytes, buf.Len())
	}
	if buf.String() == "{}" {
		return "", nil
	}
	return Metadata(buf.String()), nil
}

// checkObject reads the members of an object whose '{' was read, at depth.
func checkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalidMetadata("metadata is not valid JSON")
		}
		name, _ := tok.(string)
		if seen[name] {
			return invalidMetadata("metadata has the member %q twice", name)
		}
		seen[name] = true
		if err := checkValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return invalidMetadata("metadata is not valid JSON")
	}
	return nil
}

// checkValue reads one value inside a container at depth.
func checkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return invalidMetadata("metadata is not valid JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth+1 > MaxMetadataDepth {
		return invalidMetadata("metadata must be at most %d levels deep", MaxMetadataDepth)
	}
	if d == '{' {
		return checkObject(dec, depth+1)
	}
	for dec.More() { // '['
		if err := checkValue(dec, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return invalidMetadata("metadata is not valid JSON")
	}
	return nil
}

// MergeMetadata applies patch, a metadata object given as a JSON merge
// patch (RFC 7396), to m: a member of patch set to null removes that
// member, an object merges into the object it names, any other value
// replaces. The result is checked like ParseMetadata's input.
func MergeMetadata(m Metadata, patch []byte) (Metadata, error) {
	if _, err := ParseMetadata(patch); err != nil {
		return "", err
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return "", invalidMetadata("metadata must be a JSON object")
	}
	cur := map[string]any{}
	if m != "" {
		if err := json.Unmarshal([]byte(m), &cur); err != nil {
			return "", fmt.Errorf("decode stored metadata: %w", err)
		}
	}
	merged, err := json.Marshal(mergePatch(cur, p))
	if err != nil {
		return "", errors.New("encode metadata")
	}
	return ParseMetadata(merged)
}

// mergePatch is RFC 7396's MergePatch(target, patch) for an object patch.
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			sub, _ := target[k].(map[string]any)
			target[k] = mergePatch(sub, pv)
		default:
			target[k] = v
		}
	}
	return target
}
