package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpOnEveryCommand: -h (and --help) on every command and every subcommand prints
// its usage and exits 0, touching no server, database or file.
func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"serve"}, {"migrate"}, {"migrate-store"}, {"backup"}, {"rotate-encryption-key"}, {"bench"},
		{"sign"}, {"verify"}, {"listen"}, {"trigger"},
	}
	for _, g := range []*clientGroup{webhooksCommand, deliveriesCommand, eventsCommand, eventTypesCommand, tenantsCommand} {
		commands = append(commands, []string{g.name})
		for _, sc := range g.commands {
			commands = append(commands, []string{g.name, sc.name})
		}
	}
	if len(commands) < 29 {
		t.Fatalf("%d commands found: the list of client groups is out of date", len(commands))
	}
	for _, cmd := range commands {
		for _, flag := range []string{"-h", "--help"} {
			name := strings.Join(append(cmd, flag), " ")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var stdout, stderr bytes.Buffer
				getenv := func(string) string { return "" }
				// A cancelled context: help must not need to run anything.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if err := run(ctx, append(cmd, flag), &stdout, &stderr, getenv); err != nil {
					t.Fatalf("herald %s: %v (stderr: %s)", name, err, stderr.String())
				}
				if out := strings.ToLower(stdout.String() + stderr.String()); !strings.Contains(out, "usage") {
					t.Errorf("herald %s printed no usage:\n%s", name, out)
				}
			})
		}
	}
}
