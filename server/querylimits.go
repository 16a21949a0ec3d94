package server

import (
	"github.com/veil-media/veil/config"

	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// CodeQueryTooComplex is the code of a document refused before validation because its shape
// exceeds a QueryLimits bound (extensions.limit names the setting).
const CodeQueryTooComplex = "QUERY_TOO_COMPLEX"

func init() {
	// Refused documents are protocol errors, like validation failures: the operation never runs
	// ("error" on websockets; over HTTP, see graphQLHTTP).
	errcode.RegisterErrorType(CodeQueryTooComplex, errcode.KindProtocol)
	errcode.RegisterErrorType(CodeResponseTooLarge, errcode.KindUser)
}

// QueryLimits bound the shape of a GraphQL document (a zero limit means its default). They are checked on the parsed document
// before gqlgen validates it or computes its complexity, so that neither can be made to do more
// work than these bounds allow: every count is computed once per fragment and reused, never by
// expanding spreads.
type QueryLimits struct {
	// MaxTokens caps the lexical tokens of a document (VEIL_MAX_QUERY_TOKENS, default 10000).
	MaxTokens int
	// MaxDepth caps the nesting of fields, and of list and object values, fragments expanded
	// (VEIL_MAX_QUERY_DEPTH, default 20).
	MaxDepth int
	// MaxFields caps the fields of one operation or fragment once its fragment spreads are
	// expanded (VEIL_MAX_QUERY_FIELDS, default 2000).
	MaxFields int
	// MaxAliases caps the aliased fields of one operation or fragment, spreads expanded
	// (VEIL_MAX_ALIASES, default 100).
	MaxAliases int
	// MaxFragments caps the fragment definitions of a document (VEIL_MAX_QUERY_FRAGMENTS,
	// default 50).
	MaxFragments int
	// MaxOperations caps the operations of a document (VEIL_MAX_QUERY_OPERATIONS, default 20):
	// all are validated, whichever is run.
	MaxOperations int
}

// withDefaults replaces every zero limit with its default.
func (l QueryLimits) withDefaults() QueryLimits {
	def := DefaultQueryLimits()
	for _, p := range []struct {
		v *int
		d int
	}{
		{&l.MaxTokens, def.MaxTokens}, {&l.MaxDepth, def.MaxDepth}, {&l.MaxFields, def.MaxFields},
		{&l.MaxAliases, def.MaxAliases}, {&l.MaxFragments, def.MaxFragments}, {&l.MaxOperations, def.MaxOperations},
	} {
		if *p.v <= 0 {
			*p.v = p.d
		}
	}
	return l
}

// DefaultQueryLimits returns the defaults documented on QueryLimits.
func DefaultQueryLimits() QueryLimits {
	return QueryLimits{MaxTokens: 10000, MaxDepth: 20, MaxFields: 2000, MaxAliases: 100, MaxFragments: 50, MaxOperations: 20}
}

// Validate names the offending setting.
func (l QueryLimits) Validate() error {
	var errs []error
	for _, s := range []struct {
		field     string
		v, lo, hi int
	}{
		{"MaxTokens", l.MaxTokens, 100, 1 << 20},
		{"MaxDepth", l.MaxDepth, 2, 1000},
		{"MaxFields", l.MaxFields, 10, 1 << 20},
		{"MaxAliases", l.MaxAliases, 1, 1 << 20},
		{"MaxFragments", l.MaxFragments, 1, 10000},
		{"MaxOperations", l.MaxOperations, 1, 1000},
	} {
		if s.v < s.lo || s.v > s.hi {
			errs = append(errs, config.Errorf(s.field, "%d is not from %d to %d", s.v, s.lo, s.hi))
		}
	}
	return errors.Join(errs...)
}

// mergeWorkPerField bounds gqlgen's OverlappingFieldsCanBeMerged rule, which compares every
// pair of fields that share a response path (quadratic: 1,900 repeated __typename took 2.2 s).
// The pairs of a document may be at most this many times VEIL_MAX_QUERY_FIELDS.
const mergeWorkPerField = 10

// expandedPerField bounds the fields of all operations and fragment definitions together, spreads
// expanded, as a multiple of VEIL_MAX_QUERY_FIELDS (the merge work is computed on them).
const expandedPerField = 5

// validationWork is the most nodes gqlgen's validator may walk for one document, per token
// allowed: the walker visits each operation and each fragment definition with the fragments they
// reach, each once.
const validationWorkPerToken = 8

// DocumentCost is the shape of a parsed GraphQL document, measured without expanding any fragment
// spread more than once.
type DocumentCost struct {
	Operations int
	Fragments  int
	// Depth is the deepest nesting of fields (fragments expanded) or of argument values.
	Depth int
	// Fields and Aliases are the largest counts of one operation or fragment definition,
	// spreads expanded; they saturate at MaxInt.
	Fields, Aliases int
	// ValidationWork is the number of nodes a validator walking every operation and fragment
	// definition visits, each reachable fragment once per definition.
	ValidationWork int
	// TotalFields is the sum of the fields of every operation and fragment definition, spreads
	// expanded (saturating).
	TotalFields int
	// MergeWork is the number of pairs of fields sharing a response path, summed over the
	// operations and fragment definitions (what field-merging validation compares); it is only
	// computed, and capped at maxMergeWork+1, when TotalFields is at most maxTotalFields.
	MergeWork int
	// Cycle names the fragments of a spread cycle, when there is one.
	Cycle []string
}

// shape is the cost of one selection set, its spreads expanded.
type shape struct {
	fields, aliases, depth int
	nodes                  int      // own nodes, spreads not expanded
	spreads                []string // fragment names spread directly (inline fragments included)
}

// MeasureDocument computes the DocumentCost of doc in time linear in its size times the number of
// its fragments. Spreads of undefined fragments count nothing (validation reports them).
func MeasureDocument(doc *ast.QueryDocument, maxTotalFields, maxMergeWork int) DocumentCost {
	m := measurer{doc: doc, frags: map[string]*fragState{}}
	for _, f := range doc.Fragments {
		if _, dup := m.frags[f.Name]; !dup {
			m.frags[f.Name] = &fragState{def: f}
		}
	}
	c := DocumentCost{Operations: len(doc.Operations), Fragments: len(doc.Fragments)}
	roots := make([]shape, 0, len(doc.Operations)+len(doc.Fragments))
	for _, op := range doc.Operations {
		s := m.selectionSet(op.SelectionSet)
		s.nodes += directivesNodes(op.Directives, &m.valueDepth)
		for _, v := range op.VariableDefinitions {
			s.nodes += 1 + valueNodes(v.DefaultValue, 1, &m.valueDepth)
		}
		roots = append(roots, s)
	}
	for _, f := range doc.Fragments {
		roots = append(roots, m.fragment(f.Name).shape)
	}
	if m.cycle != nil {
		c.Cycle = m.cycle
		return c
	}
	for _, s := range roots {
		c.Fields = max(c.Fields, s.fields)
		c.TotalFields = satAdd(c.TotalFields, s.fields)
		c.Aliases = max(c.Aliases, s.aliases)
		c.Depth = max(c.Depth, s.depth)
		c.ValidationWork = satAdd(c.ValidationWork, m.walkWork(s))
	}
	c.Depth = max(c.Depth, m.valueDepth)
	if c.TotalFields <= maxTotalFields {
		m.mergeLimit = maxMergeWork
		for _, op := range doc.Operations {
			m.mergeWork([]ast.SelectionSet{op.SelectionSet})
		}
		for _, f := range doc.Fragments {
			m.mergeWork([]ast.SelectionSet{f.SelectionSet})
		}
		c.MergeWork = m.merged
	}
	return c
}

// mergeWork adds to m.merged the pairs of fields with one response path below sets, which are
// the selection sets merged at one path: Σ count² over response names, recursively on the
// merged children. It stops once past m.mergeLimit. Its work is linear in the expanded fields.
func (m *measurer) mergeWork(sets []ast.SelectionSet) {
	counts := map[string]int{}
	children := map[string][]ast.SelectionSet{}
	var order []string
	var collect func(ss ast.SelectionSet)
	collect = func(ss ast.SelectionSet) {
		for _, sel := range ss {
			switch sel := sel.(type) {
			case *ast.Field:
				name := sel.Alias
				if name == "" {
					name = sel.Name
				}
				if counts[name] == 0 {
					order = append(order, name)
				}
				counts[name]++
				if len(sel.SelectionSet) > 0 {
					children[name] = append(children[name], sel.SelectionSet)
				}
			case *ast.InlineFragment:
				collect(sel.SelectionSet)
			case *ast.FragmentSpread:
				if f := m.frags[sel.Name]; f != nil {
					collect(f.def.SelectionSet)
				}
			}
		}
	}
	for _, ss := range sets {
		collect(ss)
	}
	for _, name := range order {
		m.merged = satAdd(m.merged, counts[name]*counts[name])
		if m.merged > m.mergeLimit {
			return
		}
	}
	for _, name := range order {
		if len(children[name]) > 0 {
			m.mergeWork(children[name])
			if m.merged > m.mergeLimit {
				return
			}
		}
	}
}

type fragState struct {
	def   *ast.FragmentDefinition
	state int // 0 unvisited, 1 in progress, 2 done
	shape shape
}

type measurer struct {
	doc        *ast.QueryDocument
	frags      map[string]*fragState
	valueDepth int
	cycle      []string
	stack      []string
	merged     int
	mergeLimit int
}

// fragment returns the memoised shape of the named fragment (nil when it is not defined).
func (m *measurer) fragment(name string) *fragState {
	f := m.frags[name]
	if f == nil {
		return nil
	}
	switch f.state {
	case 2:
		return f
	case 1:
		if m.cycle == nil {
			i := len(m.stack) - 1
			for i > 0 && m.stack[i] != name {
				i--
			}
			m.cycle = append(append([]string{}, m.stack[i:]...), name)
		}
		return nil
	}
	f.state = 1
	m.stack = append(m.stack, name)
	f.shape = m.selectionSet(f.def.SelectionSet)
	f.shape.nodes += directivesNodes(f.def.Directives, &m.valueDepth)
	m.stack = m.stack[:len(m.stack)-1]
	f.state = 2
	return f
}

func (m *measurer) selectionSet(ss ast.SelectionSet) shape {
	var s shape
	for _, sel := range ss {
		switch sel := sel.(type) {
		case *ast.Field:
			child := m.selectionSet(sel.SelectionSet)
			s.fields = satAdd(s.fields, satAdd(1, child.fields))
			alias := 0
			if sel.Alias != "" && sel.Alias != sel.Name {
				alias = 1
			}
			s.aliases = satAdd(s.aliases, satAdd(alias, child.aliases))
			s.depth = max(s.depth, child.depth+1)
			s.nodes = satAdd(s.nodes, satAdd(1, child.nodes))
			for _, a := range sel.Arguments {
				s.nodes = satAdd(s.nodes, 1+valueNodes(a.Value, 1, &m.valueDepth))
			}
			s.nodes = satAdd(s.nodes, directivesNodes(sel.Directives, &m.valueDepth))
			s.spreads = append(s.spreads, child.spreads...)
		case *ast.InlineFragment:
			child := m.selectionSet(sel.SelectionSet)
			s.fields = satAdd(s.fields, child.fields)
			s.aliases = satAdd(s.aliases, child.aliases)
			s.depth = max(s.depth, child.depth)
			s.nodes = satAdd(s.nodes, satAdd(1, child.nodes))
			s.nodes = satAdd(s.nodes, directivesNodes(sel.Directives, &m.valueDepth))
			s.spreads = append(s.spreads, child.spreads...)
		case *ast.FragmentSpread:
			s.nodes = satAdd(s.nodes, 1+directivesNodes(sel.Directives, &m.valueDepth))
			s.spreads = append(s.spreads, sel.Name)
			if f := m.fragment(sel.Name); f != nil {
				s.fields = satAdd(s.fields, f.shape.fields)
				s.aliases = satAdd(s.aliases, f.shape.aliases)
				s.depth = max(s.depth, f.shape.depth)
			}
		}
	}
	return s
}

// walkWork is the number of nodes a validator visits from a root: its own, and those of every
// fragment it reaches, each once.
func (m *measurer) walkWork(root shape) int {
	work := root.nodes
	seen := map[string]bool{}
	stack := append([]string{}, root.spreads...)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f := m.frags[name]
		if f == nil || seen[name] {
			continue
		}
		seen[name] = true
		work = satAdd(work, f.shape.nodes)
		stack = append(stack, f.shape.spreads...)
	}
	return work
}

func directivesNodes(ds ast.DirectiveList, depth *int) int {
	n := 0
	for _, d := range ds {
		n = satAdd(n, 1)
		for _, a := range d.Arguments {
			n = satAdd(n, 1+valueNodes(a.Value, 1, depth))
		}
	}
	return n
}

// valueNodes counts the nodes of a value and records its nesting in *depth. It recurses as deep
// as the value nests: the parser's token limit bounds that.
func valueNodes(v *ast.Value, level int, depth *int) int {
	if v == nil {
		return 0
	}
	*depth = max(*depth, level)
	n := 1
	for _, c := range v.Children {
		n = satAdd(n, valueNodes(c.Value, level+1, depth))
	}
	return n
}

func satAdd(a, b int) int {
	if c := a + b; c >= a {
		return c
	}
	return int(^uint(0) >> 1)
}

// check reports the first limit c exceeds, as a coded error.
func (l QueryLimits) check(c DocumentCost) *gqlerror.Error {
	if c.Cycle != nil {
		err := gqlerror.Errorf("fragment cycle: %s", strings.Join(c.Cycle, " → "))
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	for _, lim := range []struct {
		what, env string
		got, max  int
	}{
		{"operations", "VEIL_MAX_QUERY_OPERATIONS", c.Operations, l.MaxOperations},
		{"fragment definitions", "VEIL_MAX_QUERY_FRAGMENTS", c.Fragments, l.MaxFragments},
		{"levels of nesting", "VEIL_MAX_QUERY_DEPTH", c.Depth, l.MaxDepth},
		{"fields once fragments are expanded", "VEIL_MAX_QUERY_FIELDS", c.Fields, l.MaxFields},
		{"fields in all its operations and fragments once expanded", "VEIL_MAX_QUERY_FIELDS", c.TotalFields, expandedPerField * l.MaxFields},
		{"pairs of fields sharing a response name to compare", "VEIL_MAX_QUERY_FIELDS", c.MergeWork, mergeWorkPerField * l.MaxFields},
		{"aliases once fragments are expanded", "VEIL_MAX_ALIASES", c.Aliases, l.MaxAliases},
		{"nodes to validate", "VEIL_MAX_QUERY_TOKENS", c.ValidationWork, validationWorkPerToken * l.MaxTokens},
	} {
		if lim.got > lim.max {
			return tooComplex(lim.env, lim.max, "the document has %d %s, more than the limit of %d", lim.got, lim.what, lim.max)
		}
	}
	return nil
}

func tooComplex(setting string, limit int, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": CodeQueryTooComplex, "limit": limit, "setting": setting}
	return err
}

// documentLimit refuses, before gqlgen parses and validates it, a document whose shape exceeds
// the limits. It runs for every transport (GET, POST, multipart, websocket, SSE) and before the
// persisted-query extension, so a refused document is never stored. Documents already in the
// query cache passed this check when they were added and are not measured again.
type documentLimit struct {
	limits QueryLimits
	cache  graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.OperationParameterMutator
	graphql.HandlerExtension
} = documentLimit{}

func (documentLimit) ExtensionName() string                          { return "VeilDocumentLimit" }
func (documentLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

func (d documentLimit) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil // a persisted-query hash: the stored query passed this check
	}
	if _, ok := d.cache.Get(ctx, p.Query); ok {
		return nil
	}
	return d.limits.Check(p.Query)
}

// Check parses query under the token limit and returns a QUERY_TOO_COMPLEX error naming the first
// limit its shape exceeds (GRAPHQL_VALIDATION_FAILED for a fragment cycle), or nil. A document
// that does not parse returns nil: gqlgen reports the same parse error with its usual code.
func (l QueryLimits) Check(query string) *gqlerror.Error {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.MaxTokens)
	if err != nil {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && strings.HasPrefix(gqlErr.Message, "exceeded token limit") {
			return tooComplex("VEIL_MAX_QUERY_TOKENS", l.MaxTokens, "the document has more than %d tokens", l.MaxTokens)
		}
		return nil
	}
	// Counted first: measuring is linear in the document times its definitions.
	if err := l.check(DocumentCost{Operations: len(doc.Operations), Fragments: len(doc.Fragments)}); err != nil {
		return err
	}
	return l.check(MeasureDocument(doc, expandedPerField*l.MaxFields, mergeWorkPerField*l.MaxFields))
}

// String describes c for logs and tests.
func (c DocumentCost) String() string {
	return fmt.Sprintf("operations=%d fragments=%d depth=%d fields=%d aliases=%d validation_work=%d cycle=%v",
		c.Operations, c.Fragments, c.Depth, c.Fields, c.Aliases, c.ValidationWork, c.Cycle)
}
