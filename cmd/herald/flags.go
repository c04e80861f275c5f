package main

import (
	"flag"
	"fmt"
	"strings"
)

// envName is the environment variable that sets flag name: --retry-schedule is
// HERALD_RETRY_SCHEDULE.
func envName(name string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags parses args into fs, then fills every flag not given on the command line
// from its HERALD_* variable, so a flag always wins over the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (" + envName(f.Name) + ")" })
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if err != nil || given[f.Name] || v == "" {
			return
		}
		if setErr := fs.Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, setErr)
		}
	})
	return err
}
