package apikey

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"customer": "cus_42", "plan": {"tier": "pro", "seats": [1, 2]}}`, `{"customer":"cus_42","plan":{"tier":"pro","seats":[1,2]}}`},
		{`{}`, ``},
		{` { "a" : null } `, `{"a":null}`},
		{`{"a":{"b":{"c":1}}}`, `{"a":{"b":{"c":1}}}`},
		{`{"a":[[1]]}`, `{"a":[[1]]}`},
		{`{"a":"` + strings.Repeat("x", MaxMetadataBytes-8) + `"}`, `{"a":"` + strings.Repeat("x", MaxMetadataBytes-8) + `"}`},
	} {
		got, err := ParseMetadata([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("ParseMetadata(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		`null`, `[]`, `"x"`, `5`, `{"a":1`, `{"a":1}{}`, `{"a":1,"a":2}`, `{"o":{"a":1,"a":2}}`,
		`{"a":{"b":{"c":{"d":1}}}}`, `{"a":[[[1]]]}`, `{"a":[{"b":[1]}]}`,
		`{"a":"` + strings.Repeat("x", MaxMetadataBytes-7) + `"}`,
	} {
		_, err := ParseMetadata([]byte(in))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Code != "invalid_metadata" || ve.Field != "metadata" {
			if len(in) > 60 {
				in = in[:60] + "…"
			}
			t.Errorf("ParseMetadata(%s): %v, want invalid_metadata", in, err)
		}
	}
}

func TestMergeMetadata(t *testing.T) {
	cur := Metadata(`{"customer":"cus_1","plan":{"tier":"free","seats":3},"drop":true}`)
	got, err := MergeMetadata(cur, []byte(`{"plan":{"tier":"pro","seats":null},"drop":null,"region":"eu"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"customer":"cus_1","plan":{"tier":"pro"},"region":"eu"}`; string(got) != want {
		t.Errorf("merged %s, want %s", got, want)
	}
	if got, err := MergeMetadata(cur, []byte(`{"customer":null,"plan":null,"drop":null}`)); err != nil || got != "" {
		t.Errorf("removing every member: %q %v, want none", got, err)
	}
	big := `{"pad":"` + strings.Repeat("x", 900) + `"}`
	if _, err := MergeMetadata(Metadata(big), []byte(`{"more":"`+strings.Repeat("y", 200)+`"}`)); err == nil {
		t.Error("a merge past 1 KiB was accepted")
	}
	if _, err := MergeMetadata(Metadata(`{"a":{"b":1}}`), []byte(`{"a":{"b":{"c":{"d":1}}}}`)); err == nil {
		t.Error("a patch too deep was accepted")
	}
}
