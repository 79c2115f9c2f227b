package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGatewaysDocShowsTheTestedConfigs: docs/gateways.md shows the nginx
// and Caddy configurations the e2e suite runs (configs/gateways), byte for
// byte, so that what is documented is what is tested.
func TestGatewaysDocShowsTheTestedConfigs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "gateways.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, lang string }{{"nginx.conf", "nginx"}, {"Caddyfile", "caddyfile"}, {"envoy.yaml", "yaml"}} {
		conf, err := os.ReadFile(filepath.Join("..", "..", "configs", "gateways", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```"+c.lang+"\n"+string(conf)+"```\n") {
			t.Errorf("docs/gateways.md does not show configs/gateways/%s as it is: copy it again", c.file)
		}
	}
}
