package main

// The API client commands (webhooks, deliveries, events, event-types, trigger) drive a
// running server through its HTTP API, with package client, the way a producer's backend
// would. This file holds what they share: their common flags, the client, error messages
// and output.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

// defaultServer is the server client commands call when neither --server nor
// HERALD_SERVER says otherwise: where `herald serve` listens by default.
const defaultServer = "http://127.0.0.1:8080"

// stdin is the standard input of the commands that read one (`--data -`, sign,
// verify); tests replace it or pass their own reader.
var stdin io.Reader = os.Stdin

// clientGroup is a client command with subcommands, like `herald webhooks`.
type clientGroup struct {
	name     string // "webhooks"
	summary  string
	commands []clientSubcommand
}

// clientSubcommand is one subcommand of a group, like `herald webhooks create`.
type clientSubcommand struct {
	name     string
	synopsis string // what follows `herald <group> <name>` in its usage line
	summary  string
	run      func(ctx context.Context, c *clientCommand, args []string) error
}

// run dispatches args to the group's subcommand. -h on a subcommand prints its usage and
// is not an error.
func (g *clientGroup) run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		g.usage(stderr)
		return fmt.Errorf("%s: no command given", g.name)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		g.usage(stdout)
		return nil
	}
	for _, sc := range g.commands {
		if sc.name == args[0] {
			c := newClientCommand(g.name+" "+sc.name, sc.synopsis, sc.summary, stdout, stderr, getenv)
			return helpIsNoError(sc.run(ctx, c, args[1:]))
		}
	}
	g.usage(stderr)
	return fmt.Errorf("%s: unknown command %q", g.name, args[0])
}

func (g *clientGroup) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: herald %s COMMAND [flags]\n\n%s\n\nCommands:\n", g.name, g.summary)
	for _, sc := range g.commands {
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace("herald "+g.name+" "+sc.name+" "+sc.synopsis), sc.summary)
	}
	fmt.Fprintf(w, "\n%s\nRun 'herald %s COMMAND -h' for a command's flags.\n", clientFlagsNote, g.name)
}

// clientFlagsNote says what every client command takes, in usage texts.
const clientFlagsNote = `Every command takes --server URL (or HERALD_SERVER; default ` + defaultServer + `),
--api-key KEY (or HERALD_API_KEY) and -o table|json (table for people, json for scripts).`

// helpIsNoError turns the flag package's answer to -h into success: the usage asked
// for is printed.
func helpIsNoError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// clientCommand is one API client command being run: its flags, the options every client
// command shares, and, once parsed, the API client.
type clientCommand struct {
	name     string // "webhooks create"
	synopsis string
	summary  string
	flags    *flag.FlagSet
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string

	server string
	apiKey string
	output string

	api    *client.Client  // set by parse
	answer client.Response // the last answer of a call made with capture's context
}

func newClientCommand(name, synopsis, summary string, stdout, stderr io.Writer, getenv func(string) string) *clientCommand {
	c := &clientCommand{name: name, synopsis: synopsis, summary: summary, stdout: stdout, stderr: stderr, getenv: getenv}
	c.flags = flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	// Only these two come from the environment: the command's own flags describe one
	// call, and a HERALD_NAME variable meant for `herald serve` must not change it.
	c.flags.StringVar(&c.server, "server", "", "`URL` of the Herald server (HERALD_SERVER; default "+defaultServer+")")
	c.flags.StringVar(&c.apiKey, "api-key", "", "the admin key or a tenant `key` (HERALD_API_KEY)")
	c.flags.StringVar(&c.output, "o", "table", "output `format`: table for people, or json (the API's answer) for scripts")
	c.flags.Usage = func() {
		out := c.flags.Output()
		fmt.Fprintf(out, "Usage: %s\n\n%s\n\nFlags:\n", c.usageLine(), summary)
		c.flags.PrintDefaults()
	}
	return c
}

// parse parses args, flags and arguments in any order, into the command's flags, checks
// that exactly the arguments named by want are given, and makes the API client from
// --server and --api-key or their environment variables. On -h it prints the usage to
// stdout and returns flag.ErrHelp.
func (c *clientCommand) parse(args []string, want ...string) ([]string, error) {
	var help bytes.Buffer
	c.flags.SetOutput(&help)
	var positional []string
	for {
		err := c.flags.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			// Help asked for goes where the caller reads; a failed write has nobody to tell.
			_, _ = c.stdout.Write(help.Bytes())
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w (see 'herald %s -h')", c.name, err, c.name)
		}
		rest := c.flags.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) < len(want) {
		return nil, fmt.Errorf("%s: missing %s (usage: %s)", c.name, strings.Join(want[len(positional):], " "), c.usageLine())
	}
	if len(positional) > len(want) {
		return nil, fmt.Errorf("%s: unexpected argument %q (usage: %s)", c.name, positional[len(want)], c.usageLine())
	}
	if c.output != "table" && c.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", c.output)
	}
	api, err := c.newAPIClient()
	if err != nil {
		return nil, err
	}
	c.api = api
	return positional, nil
}

// usageLine is the command's synopsis: "herald webhooks get ID".
func (c *clientCommand) usageLine() string {
	return strings.TrimSpace("herald " + c.name + " " + c.synopsis)
}

// given reports whether flag name was on the command line.
func (c *clientCommand) given(name string) bool {
	found := false
	c.flags.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// newAPIClient makes the client of the server and key given, the flag winning over the
// environment.
func (c *clientCommand) newAPIClient() (*client.Client, error) {
	server := c.server
	if server == "" {
		server = c.getenv("HERALD_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want an http or https URL, like %s", server, defaultServer)
	}
	key := c.apiKey
	if key == "" {
		key = c.getenv("HERALD_API_KEY")
	}
	if key == "" {
		return nil, errors.New("no API key: pass --api-key or set HERALD_API_KEY")
	}
	api, err := client.New(server, key, client.WithUserAgent("herald-cli/"+herald.Version))
	if err != nil {
		return nil, err
	}
	return api, nil
}

// capture returns ctx for one call whose answer, as the server sent it, show prints
// for -o json.
func (c *clientCommand) capture(ctx context.Context) context.Context {
	c.answer = client.Response{}
	return client.CaptureResponse(ctx, &c.answer)
}

// failed is the error of a call as the CLI says it: the server's error as it answered
// it (`404 NOT_FOUND: …`), and a hint where no server answered at all.
func failed(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (is the server running there? set --server or HERALD_SERVER)", err)
	}
	return err
}

// show writes the last call's answer: as the API sent it, indented, for -o json; else
// through table, which writes tab-separated columns for people.
func (c *clientCommand) show(table func(w io.Writer)) error {
	if c.output == "json" {
		return writeIndented(c.stdout, c.answer.Body)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// writeIndented writes a JSON document indented, or nothing when it is empty.
func writeIndented(w io.Writer, doc []byte) error {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// pageOptions are the --page and --per-page flags of a list command, as the client
// takes them: checked here, since the client leaves out a page number below 1.
func (c *clientCommand) pageOptions(page, perPage int) (client.ListOptions, error) {
	if c.given("page") && page < 1 {
		return client.ListOptions{}, fmt.Errorf("--page %d: want 1 or more", page)
	}
	if c.given("per-page") && (perPage < 1 || perPage > 100) {
		return client.ListOptions{}, fmt.Errorf("--per-page %d: want 1 to 100", perPage)
	}
	return client.ListOptions{Page: page, PerPage: perPage}, nil
}

// readData reads a JSON document from the file at path, or from stdin for "-".
func readData(path string) (json.RawMessage, error) {
	var data []byte
	var err error
	name := path
	if path == "-" {
		name = "stdin"
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read --data: %w", err)
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, fmt.Errorf("--data: %s is not valid JSON", name)
	}
	return data, nil
}

// listFlag is a flag that may be given many times, like --header.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// cell makes free text fit one table cell: tabs and line breaks would break the columns.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// showTime is t in RFC 3339, UTC; "-" when unset.
func showTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// showTimePtr is showTime for an optional time.
func showTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return showTime(*t)
}

// showStatusCode is an attempt's HTTP status; "-" when no response arrived.
func showStatusCode(code int) string {
	if code == 0 {
		return "-"
	}
	return fmt.Sprint(code)
}

// showDuration is a duration in milliseconds as people read it.
func showDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

// moreNote tells people a list has more pages than the one shown, of total (0 when
// the server did not say).
func moreNote(w io.Writer, what string, shown, total int) {
	if total <= shown {
		return // no count (not this API) or nothing more
	}
	fmt.Fprintf(w, "\n%d of %d %s shown: see --page and --per-page.\n", shown, total, what)
}
