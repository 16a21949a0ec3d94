package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeComplexityLimitExceeded is the code of an operation whose complexity is over
// Config.MaxComplexity (the code gqlgen's own limit used).
const CodeComplexityLimitExceeded = "COMPLEXITY_LIMIT_EXCEEDED"

func init() { errcode.RegisterErrorType(CodeComplexityLimitExceeded, errcode.KindProtocol) }

// complexityLimit refuses an operation whose complexity is over the limit. It replaces gqlgen's
// extension.ComplexityLimit, whose walker expands every fragment spread again (exponential in the
// nesting of spreads) and counts __schema as free. Here:
//
//   - a field costs what the schema's complexity functions say (lists: their page size times
//     their children), else 1 plus its children, interface fields the most expensive
//     implementation — as in gqlgen;
//   - a fragment's cost is computed once per operation and reused at every spread (its fields'
//     costs depend only on the fragment and the operation's variables);
//   - __schema and __type cost what answering them would produce: their selection is evaluated
//     against the schema itself, one per object of the answer (type, field, argument, enum value,
//     directive, type reference; an object's scalars are part of it), so
//     `__schema { types { fields { name } } }` costs one per type and per field of the schema.
//     GraphiQL's introspection query costs about 1,500 on Veil's schema.
//
// The walk stops counting once the limit is passed.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	// intro keeps the cost of the introspection fields of cached documents (GraphiQL sends the
	// same introspection query on every load): key "<field pointer>/<__type name>". Each entry
	// holds its document, so the field's address cannot be reused while the entry exists.
	intro graphql.Cache[introCached]
}

type introCached struct {
	doc  *ast.QueryDocument
	cost int
}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = &complexityLimit{}

func (c *complexityLimit) ExtensionName() string { return "VeilComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	if c.limit <= 0 {
		return errors.New("server: complexity limit must be positive")
	}
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	w := newComplexityWalker(c.es, opCtx.Doc, opCtx.Variables, c.limit)
	w.cache = c.intro
	got := w.selectionSet(ctx, opCtx.Operation.SelectionSet)
	if got > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", got, c.limit)
		err.Extensions = map[string]any{"code": CodeComplexityLimitExceeded, "limit": c.limit, "setting": "VEIL_MAX_COMPLEXITY"}
		return err
	}
	return nil
}

// OperationComplexity returns the complexity of op (validated, in doc) with vars, counting at
// most up to a little past stopAt (any result over stopAt means "over").
func OperationComplexity(ctx context.Context, es graphql.ExecutableSchema, doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any, stopAt int) int {
	return newComplexityWalker(es, doc, vars, stopAt).selectionSet(ctx, op.SelectionSet)
}

func newComplexityWalker(es graphql.ExecutableSchema, doc *ast.QueryDocument, vars map[string]any, stopAt int) *complexityWalker {
	return &complexityWalker{es: es, schema: es.Schema(), vars: vars, stopAt: stopAt,
		frags: map[string]int{}, intro: map[introKey]int{}, doc: doc}
}

type complexityWalker struct {
	es     graphql.ExecutableSchema
	schema *ast.Schema
	doc    *ast.QueryDocument
	vars   map[string]any
	stopAt int
	frags  map[string]int
	intro  map[introKey]int
	cache  graphql.Cache[introCached] // nil: none
}

func (w *complexityWalker) selectionSet(ctx context.Context, ss ast.SelectionSet) int {
	total := 0
	for _, sel := range ss {
		if total > w.stopAt {
			return total
		}
		switch s := sel.(type) {
		case *ast.Field:
			total = satAdd(total, w.field(ctx, s))
		case *ast.InlineFragment:
			total = satAdd(total, w.selectionSet(ctx, s.SelectionSet))
		case *ast.FragmentSpread:
			cost, ok := w.frags[s.Name]
			if !ok {
				w.frags[s.Name] = 0 // a cycle (refused before validation) counts nothing
				if s.Definition != nil {
					cost = w.selectionSet(ctx, s.Definition.SelectionSet)
				}
				w.frags[s.Name] = cost
			}
			total = satAdd(total, cost)
		}
	}
	return total
}

func (w *complexityWalker) field(ctx context.Context, f *ast.Field) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 1 // __typename, or a field validation did not resolve
	}
	switch f.Name {
	case "__schema", "__type":
		var (
			name string
			node = introNode{kind: introSchema}
		)
		if f.Name == "__type" {
			name, _ = f.ArgumentMap(w.vars)["name"].(string)
			node = introNode{kind: introType, def: w.schema.Types[name]}
			if node.def == nil {
				return 1
			}
		}
		key := fmt.Sprintf("%p/%s", f, name)
		if w.cache != nil {
			if c, ok := w.cache.Get(ctx, key); ok && c.doc == w.doc {
				return c.cost
			}
		}
		cost := satAdd(1, w.introspect(f.SelectionSet, node))
		if w.cache != nil {
			w.cache.Add(ctx, key, introCached{doc: w.doc, cost: cost})
		}
		return cost
	}
	def := w.schema.Types[f.Definition.Type.Name()]
	child := 0
	if def != nil && (def.Kind == ast.Object || def.Kind == ast.Interface || def.Kind == ast.Union) {
		child = w.selectionSet(ctx, f.SelectionSet)
	}
	args := f.ArgumentMap(w.vars)
	cost := func(on *ast.Definition) int {
		if c, ok := w.es.Complexity(ctx, on.Name, f.Name, child, args); ok && c >= 1 {
			return c
		}
		return satAdd(1, child)
	}
	if f.ObjectDefinition.Kind != ast.Interface {
		return cost(f.ObjectDefinition)
	}
	worst := 0
	for _, t := range w.schema.GetPossibleTypes(f.ObjectDefinition) {
		worst = max(worst, cost(t))
	}
	return worst
}

// Introspection, evaluated against the schema: one per value the answer would hold.

type introKind int

const (
	introSchema introKind = iota
	introType             // a named type (def) or a wrapping type (typ: NON_NULL or LIST)
	introField
	introInputValue
	introEnumValue
	introDirective
)

type introNode struct {
	kind  introKind
	def   *ast.Definition // introType (named)
	typ   *ast.Type       // introType (wrapper), introField and introInputValue: their type
	field *ast.FieldDefinition
	args  ast.ArgumentDefinitionList // introField, introDirective
}

type introKey struct {
	kind introKind
	name string // type name, or wrapped type's string
	ss   *ast.Selection
}

// typeNode is the introspection node of a field's or argument's type.
func (w *complexityWalker) typeNode(t *ast.Type) introNode {
	if t == nil {
		return introNode{kind: introType}
	}
	if t.NonNull || t.Elem != nil {
		return introNode{kind: introType, typ: t}
	}
	return introNode{kind: introType, def: w.schema.Types[t.NamedType]}
}

// introspect counts the values of selection ss on node. Named types are memoised per selection
// set, so the cost of evaluating is bounded by the schema's size times the document's.
func (w *complexityWalker) introspect(ss ast.SelectionSet, n introNode) int {
	if len(ss) == 0 {
		return 0
	}
	key := introKey{kind: n.kind, ss: &ss[0]}
	memo := n.kind == introSchema || (n.kind == introType && n.typ == nil && n.def != nil)
	if memo {
		if n.def != nil {
			key.name = n.def.Name
		}
		if c, ok := w.intro[key]; ok {
			return c
		}
		w.intro[key] = 0 // a cycle of spreads (refused before validation) counts nothing
	}
	total := 0
	for _, sel := range ss {
		if total > w.stopAt {
			break
		}
		switch s := sel.(type) {
		case *ast.Field:
			total = satAdd(total, w.introField(s, n))
		case *ast.InlineFragment:
			total = satAdd(total, w.introspect(s.SelectionSet, n))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				total = satAdd(total, w.introspect(s.Definition.SelectionSet, n))
			}
		}
	}
	if memo {
		w.intro[key] = total
	}
	return total
}

// introField counts the objects field f of node n answers, with those below them (0 for a scalar
// or a null).
func (w *complexityWalker) introField(f *ast.Field, n introNode) int {
	ss := f.SelectionSet
	one := func(c introNode) int {
		if c.kind == introType && c.def == nil && c.typ == nil {
			return 0 // null
		}
		return satAdd(1, w.introspect(ss, c))
	}
	list := func(nodes []introNode) int {
		total := 0
		for _, c := range nodes {
			if total > w.stopAt {
				break
			}
			total = satAdd(total, satAdd(1, w.introspect(ss, c)))
		}
		return total
	}
	switch n.kind {
	case introSchema:
		switch f.Name {
		case "types":
			nodes := make([]introNode, 0, len(w.schema.Types))
			for _, d := range w.schema.Types {
				nodes = append(nodes, introNode{kind: introType, def: d})
			}
			return list(nodes)
		case "queryType":
			return one(introNode{kind: introType, def: w.schema.Query})
		case "mutationType":
			return one(introNode{kind: introType, def: w.schema.Mutation})
		case "subscriptionType":
			return one(introNode{kind: introType, def: w.schema.Subscription})
		case "directives":
			nodes := make([]introNode, 0, len(w.schema.Directives))
			for _, d := range w.schema.Directives {
				nodes = append(nodes, introNode{kind: introDirective, args: d.Arguments})
			}
			return list(nodes)
		}
	case introType:
		if n.typ != nil { // NON_NULL or LIST: only ofType leads anywhere
			if f.Name != "ofType" {
				return 0
			}
			inner := *n.typ
			if inner.NonNull {
				inner.NonNull = false
			} else {
				inner = *inner.Elem
			}
			return one(w.typeNode(&inner))
		}
		d := n.def
		if d == nil {
			return 0
		}
		switch f.Name {
		case "fields", "inputFields":
			if (f.Name == "fields") != (d.Kind == ast.Object || d.Kind == ast.Interface) {
				return 0
			}
			nodes := make([]introNode, 0, len(d.Fields))
			for _, fd := range d.Fields {
				kind := introField
				if d.Kind == ast.InputObject {
					kind = introInputValue
				}
				nodes = append(nodes, introNode{kind: kind, field: fd, typ: fd.Type, args: fd.Arguments})
			}
			return list(nodes)
		case "interfaces":
			nodes := make([]introNode, 0, len(d.Interfaces))
			for _, name := range d.Interfaces {
				nodes = append(nodes, introNode{kind: introType, def: w.schema.Types[name]})
			}
			return list(nodes)
		case "possibleTypes":
			if d.Kind != ast.Interface && d.Kind != ast.Union {
				return 0
			}
			var nodes []introNode
			for _, t := range w.schema.GetPossibleTypes(d) {
				nodes = append(nodes, introNode{kind: introType, def: t})
			}
			return list(nodes)
		case "enumValues":
			nodes := make([]introNode, len(d.EnumValues))
			for i := range nodes {
				nodes[i] = introNode{kind: introEnumValue}
			}
			return list(nodes)
		case "ofType":
			return 0
		}
	case introField, introDirective:
		switch f.Name {
		case "args":
			nodes := make([]introNode, 0, len(n.args))
			for _, a := range n.args {
				nodes = append(nodes, introNode{kind: introInputValue, typ: a.Type})
			}
			return list(nodes)
		case "type":
			return one(w.typeNode(n.typ))
		}
	case introInputValue:
		if f.Name == "type" {
			return one(w.typeNode(n.typ))
		}
	}
	return 0
}
