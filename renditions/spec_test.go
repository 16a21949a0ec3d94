package renditions

import (
	"errors"
	"strings"
	"testing"
)

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		spec  string
		limit bool   // want *LimitError rather than *SpecError
		op    string // the Op the error must carry
		msg   string // text the message must contain (besides the op)
	}{
		{spec: "", msg: "empty spec"},
		{spec: "fill-0x0", op: "fill-0x0", msg: "at least 1"},
		{spec: "fill-200x0", op: "fill-200x0", msg: "height must be at least 1"},
		{spec: "width-0", op: "width-0", msg: "at least 1"},
		{spec: "width-400||format-jpeg", msg: "operation 2 of 3 is empty"},
		{spec: "|width-400", msg: "operation 1 of 2 is empty"},
		{spec: "width-400|", msg: "operation 2 of 2 is empty"},
		{spec: "widht-400", op: "widht-400", msg: `unknown operation "widht"`},
		{spec: "resize-400x300", op: "resize-400x300", msg: "unknown operation"},
		{spec: "Width-400", op: "Width-400", msg: "lower-case"},
		{spec: "FORMAT-webp", op: "FORMAT-webp", msg: "lower-case"},
		{spec: "format-WEBP", op: "format-WEBP", msg: "unknown format"},
		{spec: " width-400", op: " width-400", msg: "unknown operation"},
		{spec: "width", op: "width", msg: "takes 1 argument"},
		{spec: "width-", op: "width-", msg: "whole number"},
		{spec: "width-400-500", op: "width-400-500", msg: "takes 1 argument"},
		{spec: "max-400", op: "max-400", msg: "WIDTHxHEIGHT"},
		{spec: "max-400x300x200", op: "max-400x300x200", msg: "whole number"},
		{spec: "min-400x300-1", op: "min-400x300-1", msg: "takes 1 argument"},
		{spec: "original-1", op: "original-1", msg: "no arguments"},
		{spec: "fill-200x200-c50-x", op: "fill-200x200-c50-x", msg: "1 or 2 arguments"},
		{spec: "fill-200x200-50", op: "fill-200x200-50", msg: "closeness"},
		{spec: "fill-200x200-cabc", op: "fill-200x200-cabc", msg: "closeness"},
		{spec: "fill", op: "fill", msg: "1 or 2 arguments"},
		{spec: "width-abc", op: "width-abc", msg: "whole number"},
		{spec: "width-40.5", op: "width-40.5", msg: "whole number"},
		{spec: "width-+40", op: "width-+40", msg: "whole number"},
		{spec: "width--40", op: "width--40", msg: "takes 1 argument"},
		{spec: "width-1e3", op: "width-1e3", msg: "whole number"},
		{spec: "width-99999999999", op: "width-99999999999", msg: "whole number"},
		{spec: "max-400xabc", op: "max-400xabc", msg: "height must be a whole number"},
		{spec: "scale-abc", op: "scale-abc", msg: "percentage"},
		{spec: "scale-0", op: "scale-0", msg: "percentage"},
		{spec: "scale-0.0", op: "scale-0.0", msg: "percentage"},
		{spec: "scale-1e3", op: "scale-1e3", msg: "percentage"},
		{spec: "scale-.5", op: "scale-.5", msg: "percentage"},
		{spec: "scale-NaN", op: "scale-NaN", msg: "percentage"},
		{spec: "jpegquality-0", op: "jpegquality-0", msg: "1 to 100"},
		{spec: "jpegquality-101", op: "jpegquality-101", msg: "1 to 100"},
		{spec: "webpquality-abc", op: "webpquality-abc", msg: "1 to 100"},
		{spec: "avifquality-", op: "avifquality-", msg: "1 to 100"},
		{spec: "jpegquality-80-90", op: "jpegquality-80-90", msg: "takes 1 argument"},
		{spec: "bgcolor-ff00", op: "bgcolor-ff00", msg: "3 or 6 hex digits"},
		{spec: "bgcolor-fffffff", op: "bgcolor-fffffff", msg: "3 or 6 hex digits"},
		{spec: "bgcolor-gggggg", op: "bgcolor-gggggg", msg: "3 or 6 hex digits"},
		{spec: "bgcolor-#fff", op: "bgcolor-#fff", msg: "3 or 6 hex digits"},
		{spec: "bgcolor", op: "bgcolor", msg: "takes 1 argument"},
		{spec: "format-bmp", op: "format-bmp", msg: "unknown format"},
		{spec: "format-jpeg-lossless", op: "format-jpeg-lossless", msg: "webp and avif only"},
		{spec: "format-webp-fast", op: "format-webp-fast", msg: "lossless"},
		{spec: "format", op: "format", msg: "1 or 2 arguments"},
		{spec: "format-webp|format-jpeg", op: "format-jpeg", msg: "conflicts with format-webp"},
		{spec: "format-webp|format-webp-lossless", op: "format-webp-lossless", msg: "conflicts"},
		{spec: "jpegquality-80|jpegquality-70", op: "jpegquality-70", msg: "conflicts with jpegquality-80"},
		{spec: "bgcolor-fff|bgcolor-000", op: "bgcolor-000", msg: "conflicts with bgcolor-ffffff"},
		{spec: strings.Repeat("w", MaxSpecLength+1), msg: "maximum is 512"},
		// Over the caps of DefaultLimits.
		{spec: "width-4001", limit: true, op: "width-4001", msg: "output side 4001 exceeds the limit 4000"},
		{spec: "height-5000", limit: true, op: "height-5000", msg: "exceeds the limit 4000"},
		{spec: "fill-4001x10", limit: true, op: "fill-4001x10", msg: "exceeds the limit 4000"},
		{spec: "max-10x99999", limit: true, op: "max-10x99999", msg: "exceeds the limit"},
		{spec: "width-1|width-2|width-3|width-4|width-5|width-6|width-7|width-8|width-9|width-10|width-11",
			limit: true, op: "width-1|width-2|width-3|width-4|width-5|width-6|width-7|width-8|width-9|width-10|width-11",
			msg: "operation count 11 exceeds the limit 10"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := Parse(tt.spec, DefaultLimits())
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tt.spec)
			}
			var op string
			if tt.limit {
				var le *LimitError
				if !errors.As(err, &le) {
					t.Fatalf("Parse(%q) = %T %v, want *LimitError", tt.spec, err, err)
				}
				op = le.Op
			} else {
				var se *SpecError
				if !errors.As(err, &se) {
					t.Fatalf("Parse(%q) = %T %v, want *SpecError", tt.spec, err, err)
				}
				op = se.Op
			}
			if op != tt.op {
				t.Errorf("Op = %q, want %q", op, tt.op)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
			if tt.op != "" && !strings.Contains(err.Error(), tt.op) {
				t.Errorf("message %q does not name the operation %q", err, tt.op)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	lim := Limits{MaxOutputSide: 100, MaxOperations: 2}
	if _, err := Parse("width-100|height-100", lim); err != nil {
		t.Errorf("at the caps: %v", err)
	}
	var le *LimitError
	if _, err := Parse("width-101", lim); !errors.As(err, &le) || le.Limit != "MaxOutputSide" {
		t.Errorf("width over a custom cap: %v", err)
	}
	if _, err := Parse("width-10|height-10|format-png", lim); !errors.As(err, &le) || le.Limit != "MaxOperations" {
		t.Errorf("ops over a custom cap: %v", err)
	}
	// Zero limits mean the defaults.
	if _, err := Parse("width-4000", Limits{}); err != nil {
		t.Errorf("zero Limits: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"width-400", "width-400"},
		{"format-jpeg|width-400", "width-400|format-jpeg"},
		{"width-400|format-jpeg", "width-400|format-jpeg"},
		{"width-400|format-jpeg|format-jpeg", "width-400|format-jpeg"},
		{"format-jpeg|jpegquality-80|width-400|jpegquality-80", "width-400|format-jpeg|jpegquality-80"},
		{"bgcolor-FFF|jpegquality-80|format-jpeg|width-0400", "width-400|format-jpeg|jpegquality-80|bgcolor-ffffff"},
		{"bgcolor-1a2B3c|max-800x600", "max-800x600|bgcolor-1a2b3c"},
		{"height-200|width-400", "height-200|width-400"},
		{"width-400|height-200", "width-400|height-200"},
		{"fill-200x200|height-150", "fill-200x200|height-150"},
		{"scale-50|scale-50", "scale-50|scale-50"},
		{"original", "original"},
		{"original|width-400", "width-400"},
		{"original|format-png", "format-png"},
		{"format-png", "format-png"},
		{"fill-200x200-c0", "fill-200x200"},
		{"fill-200x200-c150", "fill-200x200-c100"},
		{"fill-200x200-c050", "fill-200x200-c50"},
		{"scale-50.0", "scale-50"},
		{"scale-083.0322", "scale-83.0322"},
		{"min-0800x0600", "min-800x600"},
		{"format-webp|jpegquality-80|webpquality-70", "format-webp|webpquality-70"},
		{"webpquality-70|jpegquality-80", "jpegquality-80|webpquality-70"},
		{"format-webp-lossless|webpquality-70", "format-webp-lossless|webpquality-70"},
		{"avifquality-50|format-avif-lossless", "format-avif-lossless|avifquality-50"},
		{"format-png|jpegquality-90|bgcolor-000", "format-png|bgcolor-000000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := Parse(tt.in, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			again, err := Parse(s.String(), DefaultLimits())
			if err != nil {
				t.Fatalf("canonical form does not parse: %v", err)
			}
			if again.String() != tt.want {
				t.Fatalf("canonical form is not stable: %q", again.String())
			}
		})
	}
	if (Spec{}).String() != "original" {
		t.Errorf("zero Spec is %q", Spec{}.String())
	}
}

func TestUsesFocalPoint(t *testing.T) {
	for spec, want := range map[string]bool{
		"fill-200x200":               true,
		"width-400|fill-100x100-c50": true,
		"width-400":                  false,
		"max-100x100|format-webp":    false,
		"original|bgcolor-fff":       false,
	} {
		s, err := Parse(spec, DefaultLimits())
		if err != nil {
			continue
		}
		if got := s.UsesFocalPoint(); got != want {
			t.Errorf("%s: UsesFocalPoint() = %v", spec, got)
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"width-{400,800}|format-{webp,jpeg}", []string{
			"width-400|format-webp", "width-400|format-jpeg", "width-800|format-webp", "width-800|format-jpeg"}},
		{"fill-{200x200,300x300}-c{50,100}", []string{
			"fill-200x200-c50", "fill-200x200-c100", "fill-300x300-c50", "fill-300x300-c100"}},
		{"width-400", []string{"width-400"}},
		{"{width-400,height-300}", []string{"width-400", "height-300"}},
		{"width-{400}", []string{"width-400"}},
		{"{width-400,width-400}|format-jpeg", []string{"width-400|format-jpeg"}},
		{"format-{avif,webp,jpeg}", []string{"format-avif", "format-webp", "format-jpeg"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Expand(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("Expand = %q, want %q", got, tt.want)
			}
			for _, s := range got {
				if _, err := Parse(s, DefaultLimits()); err != nil {
					t.Errorf("expanded spec %q does not parse: %v", s, err)
				}
			}
		})
	}

	bad := []struct{ in, msg string }{
		{"", "empty pattern"},
		{"width-{400,800", "not closed"},
		{"width-400}", "no matching '{'"},
		{"width-}400{", "no matching '{'"},
		{"width-{{400,800}}", "nested"},
		{"width-{400,{800}}", "nested"},
		{"width-{}", "empty group"},
		{"width-{400,}", "empty alternative"},
		{"width-{,400}", "empty alternative"},
		{"width-{400,,800}", "empty alternative"},
		{"{a,b,c,d,e}{a,b,c,d,e}{a,b,c,d,e}", "more than 100"},
		{strings.Repeat("{a,b}", 200), "maximum is 512"},
	}
	for _, tt := range bad {
		t.Run("bad/"+tt.in, func(t *testing.T) {
			_, err := Expand(tt.in)
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Expand(%q) = %v, want *SpecError", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
		})
	}
}
