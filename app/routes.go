package app

import (
	"fmt"
	"os"

	"github.com/agentauri/apikeys/adapters/routefile"
	"github.com/agentauri/apikeys/core/routes"
)

// loadRoutes returns the route policy of the configuration: the routes
// section of the configuration file configFile ("" when none was read), or
// the file named by routes_file (routesFile, relative to the working
// directory like every other path setting). It returns nil when neither
// sets one, and refuses both at once. koanf does not see the section: it
// keeps no line numbers, and each problem is reported with its line.
func loadRoutes(configFile, routesFile string) (*routes.Policy, error) {
	var inline *routes.Policy
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", configFile, err)
		}
		if inline, err = routefile.Parse(configFile, data); err != nil {
			return nil, err
		}
	}
	switch {
	case inline != nil && routesFile != "":
		return nil, fmt.Errorf("config file %s: both %s and routes_file are set; keep one", configFile, routefile.Section)
	case routesFile != "":
		return routefile.Load(routesFile)
	}
	return inline, nil
}
