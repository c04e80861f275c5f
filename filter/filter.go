package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"

	"github.com/heraldhq/herald"
)

// MaxLength is the longest filter, in bytes, a webhook may have.
const MaxLength = 4096

// CostLimit bounds one evaluation, in CEL's cost units (about one per operation, one
// per ten bytes a string function reads): enough for any comparison of a payload's
// fields and a walk of a list of thousands, and well under a millisecond.
const CostLimit = 100_000

// MaxEstimatedCost bounds a filter's worst-case cost, estimated when it is compiled for
// an event of the largest size Herald accepts (MaxDataBytes): a single pass over the
// payload passes, a loop within a loop over it does not.
const MaxEstimatedCost = 20_000_000

// MaxDataBytes is the largest payload the cost estimate assumes: the largest event the
// API accepts.
const MaxDataBytes = 1 << 20

// env is the one CEL environment every filter is compiled in.
var env = mustEnv()

func mustEnv() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("type", cel.StringType),
		cel.Variable("data", cel.DynType),
		cel.Variable("channels", cel.ListType(cel.StringType)),
		cel.Variable("tenant_id", cel.StringType),
		cel.ParserExpressionSizeLimit(MaxLength),
	)
	if err != nil {
		panic(fmt.Sprintf("filter: CEL environment: %v", err)) // a programming error, caught by any test
	}
	return e
}

// Filter is a compiled filter. It is safe for concurrent use.
type Filter struct {
	text string
	ast  *cel.Ast
	prg  cel.Program
}

// Compile parses, type-checks and cost-checks a filter. It returns an EINVALID
// *herald.Error saying where and why when the filter is not valid.
func Compile(text string) (*Filter, error) {
	if strings.TrimSpace(text) == "" {
		return nil, herald.Errorf(herald.EINVALID, "filter is empty; omit it, or send \"\" to remove it")
	}
	if len(text) > MaxLength {
		return nil, herald.Errorf(herald.EINVALID, "filter is %d bytes long; the limit is %d", len(text), MaxLength)
	}
	ast, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, compileError(iss)
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, herald.Errorf(herald.EINVALID, "filter must evaluate to a bool, not %s", t)
	}
	est, err := env.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, herald.Errorf(herald.EINVALID, "filter: cannot estimate its cost: %v", err)
	}
	if est.Max > MaxEstimatedCost {
		return nil, herald.Errorf(herald.EINVALID,
			"filter is too costly: on a large event it could take %s operations, more than the %d allowed; avoid loops within loops over data",
			costString(est.Max), MaxEstimatedCost)
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, herald.Errorf(herald.EINVALID, "filter: %v", err)
	}
	return &Filter{text: text, ast: ast, prg: prg}, nil
}

// compileError turns CEL's issues into one error: the first issue's position and
// reason in the message, every issue in the details.
func compileError(iss *cel.Issues) error {
	errs := iss.Errors()
	if len(errs) == 0 {
		return herald.Errorf(herald.EINVALID, "filter does not compile: %v", iss.Err())
	}
	describe := func(i int) string {
		e := errs[i]
		loc := e.Location
		if loc == nil || loc.Line() <= 0 {
			return e.Message
		}
		return fmt.Sprintf("line %d, column %d: %s", loc.Line(), loc.Column()+1, e.Message)
	}
	err := herald.Errorf(herald.EINVALID, "filter does not compile: %s", describe(0))
	if len(errs) > 1 {
		all := make([]string, len(errs))
		for i := range errs {
			all[i] = describe(i)
		}
		err.Details = strings.Join(all, "; ")
	}
	return err
}

// costString prints a cost estimate, which may be the "unbounded" maximum.
func costString(c uint64) string {
	if c == ^uint64(0) {
		return "unboundedly many"
	}
	return fmt.Sprint(c)
}

// String returns the filter's text.
func (f *Filter) String() string { return f.text }

// Input is what a filter reads of an event, decoded once and evaluated against as many
// filters as there are webhooks.
type Input struct {
	vars map[string]any
}

// NewInput decodes what filters read of e. Data that is not JSON (never stored) or was
// removed by retention reads as null.
func NewInput(e *herald.Event) *Input {
	var data any
	if len(e.Data) > 0 {
		d := json.NewDecoder(bytes.NewReader(e.Data))
		if err := d.Decode(&data); err != nil {
			data = nil // a filter on data then fails to evaluate: no match
		}
	}
	channels := e.Channels
	if channels == nil {
		channels = []string{}
	}
	return &Input{vars: map[string]any{
		"type":      e.Type,
		"data":      data,
		"channels":  channels,
		"tenant_id": e.TenantID,
	}}
}

// Match reports whether the filter accepts in. An evaluation error (a missing field, a
// type mismatch, the cost limit) or a result that is not a bool is no match; Eval says
// which.
func (f *Filter) Match(in *Input) bool {
	ok, err := f.Eval(in)
	return err == nil && ok
}

// Eval evaluates the filter against in: its result, or why it has none.
func (f *Filter) Eval(in *Input) (bool, error) {
	out, _, err := f.prg.Eval(in.vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errors.New("the filter's result is " + string(out.Type().TypeName()) + ", not a bool")
	}
	return b, nil
}

// estimator sizes the filter's variables for the cost estimate: data and anything read
// from it as large as an event can be, channels as many as an event may carry.
type estimator struct{}

// EstimateSize implements cost.Estimator.
func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if s := n.ComputedSize(); s != nil {
		return nil
	}
	if p := n.Path(); len(p) == 1 && p[0] == "channels" {
		s := cost.RangedSizeEstimate(0, herald.MaxChannels)
		s.Elem = &cost.SizeEstimate{Min: 1, Max: herald.MaxChannelLength}
		return &s
	}
	leaf := cost.RangedSizeEstimate(0, MaxDataBytes)
	// A list of a 1 MiB payload holds at most about half a million items ("[0,0,…]");
	// an item is no larger than the payload.
	s := cost.RangedSizeEstimate(0, MaxDataBytes)
	s.Elem, s.Key = &leaf, &leaf
	return &s
}

// EstimateCallCost implements cost.Estimator: the standard costs.
func (estimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
