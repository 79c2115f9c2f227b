// Command apikeys issues, verifies, rotates and revokes API keys. See the
// README for its commands and configuration.
package main

import (
	"context"
	"os"

	"github.com/agentauri/apikeys/app"
)

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:]))
}
