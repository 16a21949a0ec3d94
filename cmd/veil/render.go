package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/veil-media/veil/renditions"
)

// render makes one rendition of a local file, exactly as the server would, without a server:
//
//	veil render -spec 'fill-300x300|format-webp' in.jpg out.webp
//
// When the spec has no format-*, the output file's extension chooses the format (out.png gets
// PNG); an extension that names no image format leaves the spec's default. A spec whose format-*
// contradicts the extension (format-webp to out.png) is refused with exit status 2.
func render(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("veil render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("spec", "", "rendition spec, e.g. width-400 or fill-300x300|format-webp")
	focal := fs.String("focal", "", "focal point x,y,width,height in upright pixels")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if fs.NArg() != 2 || *spec == "" {
		fmt.Fprintln(stderr, "usage: veil render -spec SPEC [-focal x,y,w,h] IN OUT")
		return 2
	}
	opts := renditions.DefaultOptions()
	sp, err := renditions.Parse(*spec, opts.Limits)
	if err != nil {
		fmt.Fprintf(stderr, "veil render: %v\n", err)
		return 2
	}
	if ext := renditions.FormatOfExtension(filepath.Ext(fs.Arg(1))); ext != "" {
		switch f := sp.Format(); {
		case f == "":
			sp = sp.WithFormat(ext)
		case f != ext:
			fmt.Fprintf(stderr, "veil render: the spec writes %s but %s names %s; change one of them\n", strings.ToUpper(string(f)), fs.Arg(1), strings.ToUpper(string(ext)))
			return 2
		}
	}
	var fp *renditions.FocalPoint
	if *focal != "" {
		fp = new(renditions.FocalPoint)
		if _, err := fmt.Sscanf(*focal, "%d,%d,%d,%d", &fp.X, &fp.Y, &fp.Width, &fp.Height); err != nil {
			fmt.Fprintf(stderr, "veil render: -focal %q is not x,y,width,height\n", *focal)
			return 2
		}
	}
	in, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "veil render: %v\n", err)
		return 1
	}
	defer in.Close()
	out, err := os.Create(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "veil render: %v\n", err)
		return 1
	}
	plan, err := renditions.Generate(context.Background(), in, sp, fp, opts, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(fs.Arg(1))
		fmt.Fprintf(stderr, "veil render: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %dx%d %s\n", sp, plan.Width, plan.Height, plan.Format)
	return 0
}
