package filter

import (
	"encoding/json"
	"fmt"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/heraldhq/herald"
)

// CheckFields refuses, with an EINVALID error naming it, a field of data the filter
// reads (data.a.b, data["a"]) that none of schemas has. A schema node without
// "properties" (or with additionalProperties or patternProperties) leaves everything
// below it unchecked, so custom types without a detailed schema stay dynamic. Call it
// only with the schema of every type the webhook subscribes to; with none it checks
// nothing.
func (f *Filter) CheckFields(schemas []json.RawMessage) error {
	if len(schemas) == 0 {
		return nil
	}
	roots := make([]map[string]any, 0, len(schemas))
	for _, s := range schemas {
		var m map[string]any
		if err := json.Unmarshal(s, &m); err != nil {
			return nil // not an object schema: nothing to check against
		}
		roots = append(roots, m)
	}
	var missing string
	visit := func(e ast.Expr) {
		if missing != "" {
			return
		}
		path, ok := dataPath(e)
		if !ok || len(path) == 0 {
			return
		}
		for _, root := range roots {
			if hasPath(root, root, path) {
				return
			}
		}
		missing = "data." + strings.Join(path, ".")
	}
	ast.PreOrderVisit(f.ast.NativeRep().Expr(), ast.NewExprVisitor(visit))
	if missing != "" {
		return herald.Errorf(herald.EINVALID,
			"filter reads %s, which the schema of no subscribed event type has; check the field's name in the catalog", missing)
	}
	return nil
}

// dataPath returns the fields of data that e reads when it is a chain of selects or
// constant-string indexes rooted at the variable data: data.a["b"].c is [a b c]. Every
// prefix of a chain is visited too, so only the full chains matter, and a chain is
// checked from its root; a shorter chain that fails fails first.
func dataPath(e ast.Expr) ([]string, bool) {
	var rev []string
	for {
		switch e.Kind() {
		case ast.SelectKind:
			s := e.AsSelect()
			rev = append(rev, s.FieldName())
			e = s.Operand()
		case ast.CallKind:
			c := e.AsCall()
			if c.FunctionName() != operators.Index || len(c.Args()) != 2 {
				return nil, false
			}
			k := c.Args()[1]
			if k.Kind() != ast.LiteralKind || k.AsLiteral().Type() != types.StringType {
				return nil, false
			}
			rev = append(rev, fmt.Sprint(k.AsLiteral().Value()))
			e = c.Args()[0]
		case ast.IdentKind:
			if e.AsIdent() != "data" {
				return nil, false
			}
			path := make([]string, len(rev))
			for i, f := range rev {
				path[len(rev)-1-i] = f
			}
			return path, true
		default:
			return nil, false
		}
	}
}

// hasPath reports whether the schema node allows path below it, resolving local $refs
// against root and taking allOf, anyOf and oneOf branches as alternatives.
func hasPath(root, node map[string]any, path []string) bool {
	return walk(root, node, path, 0)
}

func walk(root, node map[string]any, path []string, depth int) bool {
	if len(path) == 0 {
		return true
	}
	if depth > 32 || node == nil {
		return true // a schema too deep or odd to follow: do not refuse on a guess
	}
	if ref, ok := node["$ref"].(string); ok {
		if target := resolve(root, ref); target != nil {
			if walk(root, target, path, depth+1) {
				return true
			}
		} else {
			return true
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if branches, ok := node[k].([]any); ok {
			for _, b := range branches {
				if m, ok := b.(map[string]any); ok && walk(root, m, path, depth+1) {
					return true
				}
			}
		}
	}
	props, hasProps := node["properties"].(map[string]any)
	if !hasProps {
		_, combined := node["allOf"]
		_, anyOf := node["anyOf"]
		_, oneOf := node["oneOf"]
		_, ref := node["$ref"]
		if combined || anyOf || oneOf || ref {
			return false // the branches above had their say
		}
		return true // no properties listed: dynamic below
	}
	if sub, ok := props[path[0]].(map[string]any); ok {
		return walk(root, sub, path[1:], depth+1)
	}
	if _, ok := props[path[0]]; ok {
		return true // "field": true
	}
	if _, ok := node["patternProperties"]; ok {
		return true
	}
	switch ap := node["additionalProperties"].(type) {
	case bool:
		return ap // only an explicit true lets a field the properties do not list through
	case map[string]any:
		return walk(root, ap, path[1:], depth+1)
	}
	return false
}

// resolve follows a local JSON pointer ("#/$defs/x"), or returns nil.
func resolve(root map[string]any, ref string) map[string]any {
	if !strings.HasPrefix(ref, "#") {
		return nil
	}
	var cur any = root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	m, _ := cur.(map[string]any)
	return m
}
