package httpapi

import (
	"net/url"
	"testing"
)

// FuzzValidQuery checks that validQuery accepts exactly the query strings
// url.ParseQuery accepts.
func FuzzValidQuery(f *testing.F) {
	for _, q := range []string{
		"", "scope=events:read", "a=1&b=2", "a=1;b=2", ";", "a=%", "a=%4", "a=%41", "a=%4g", "%zz=1",
		"a=%e2%82%ac", "a=%E2%82%AC", "&&&", "a", "a==b", "a=+b", "%", "%%41", "a=%41%", "q=%20;", "x=%0",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, err := url.ParseQuery(q)
		if got, want := validQuery(q), err == nil; got != want {
			t.Errorf("validQuery(%q) = %v, url.ParseQuery error %v", q, got, err)
		}
	})
}
