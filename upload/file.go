package upload

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"strings"
	"sync"
)

// File is the value of an Upload variable. It is bound to the GraphQL Upload scalar.
type File struct {
	key string
	s   *stream
}

// Part is an opened upload: the client's claimed filename and content type (unchecked) and the
// file's bytes. Body is valid until the request ends.
type Part struct {
	Filename    string
	ContentType string
	Body        io.Reader
}

// ErrConsumed is returned when the same file is opened twice after being streamed once.
var ErrConsumed = errors.New("upload: file was already read")

// Open positions the request body at this file and returns it. Files must be opened one at a
// time (GraphQL executes mutation fields in order, which guarantees it).
func (f *File) Open() (Part, error) {
	if f == nil || f.s == nil {
		return Part{}, errors.New("upload: no file")
	}
	return f.s.open(f.key)
}

// UnmarshalGQL accepts the *File the transport placed in the variables.
func (f *File) UnmarshalGQL(v any) error {
	switch x := v.(type) {
	case *File:
		*f = *x
		return nil
	case File:
		*f = x
		return nil
	case nil:
		return &Error{"the file is missing: send it as a part of a multipart request (GraphQL multipart request spec)"}
	default:
		return &Error{fmt.Sprintf("a %T is not a file: send files as parts of a multipart request", v)}
	}
}

// MarshalGQL writes null: files are never echoed back.
func (f File) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, "null") }

// stream hands out the file parts of one multipart request, in whatever order they are opened.
type stream struct {
	mu       sync.Mutex
	mr       *multipart.Reader
	expected map[string]bool
	shared   map[string]bool // parts mapped to more than one variable: always spooled
	spooled  map[string]spooledPart
	consumed map[string]bool
	done     bool
	tmpDir   string
	open_    []*os.File

	maxSpool     int64        // per request; 0 = no limit
	budget       *SpoolBudget // shared; nil = no limit
	spooledBytes int64        // taken from budget, given back by close
}

type spooledPart struct {
	path                  string
	filename, contentType string
}

func (s *stream) open(key string) (Part, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.spooled[key]; ok {
		return s.reopen(key)
	}
	if s.consumed[key] {
		return Part{}, ErrConsumed
	}
	for !s.done {
		p, err := s.mr.NextPart()
		if err == io.EOF {
			s.done = true
			break
		}
		if err != nil {
			return Part{}, fmt.Errorf("upload: read next part: %w", err)
		}
		k := p.FormName()
		if !s.expected[k] {
			return Part{}, fmt.Errorf("upload: part %q is not named in map", k)
		}
		if s.consumed[k] {
			return Part{}, fmt.Errorf("upload: part %q appears twice", k)
		}
		filename, err := rawFilename(p)
		if err != nil {
			return Part{}, err
		}
		s.consumed[k] = true
		if k == key && !s.shared[k] {
			return Part{Filename: filename, ContentType: p.Header.Get("Content-Type"), Body: p}, nil
		}
		if err := s.spool(k, filename, p); err != nil {
			return Part{}, err
		}
		if k == key {
			return s.reopen(key)
		}
	}
	return Part{}, fmt.Errorf("upload: file %q is not in the request", key)
}

// reopen opens a spooled part from its start; each caller gets its own file.
func (s *stream) reopen(key string) (Part, error) {
	sp := s.spooled[key]
	f, err := os.Open(sp.path)
	if err != nil {
		return Part{}, fmt.Errorf("upload: reopen spooled file %s: %w", key, err)
	}
	s.open_ = append(s.open_, f)
	return Part{Filename: sp.filename, ContentType: sp.contentType, Body: f}, nil
}

// rawFilename returns the filename as the client sent it (%22 decoded). multipart.Part.FileName applies
// filepath.Base, which would silently turn "../../x.jpg" into "x.jpg"; Veil wants to see (and
// refuse) what was sent.
func rawFilename(p *multipart.Part) (string, error) {
	cd := p.Header.Get("Content-Disposition")
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return "", fmt.Errorf("upload: malformed Content-Disposition of part %q: %w", p.FormName(), err)
	}
	// Browsers send a FormData filename's `"` as %22 (and CR, LF as %0D, %0A: the HTML
	// standard's multipart/form-data encoding); only %22 is decoded, as a name with CR or LF is
	// refused anyway.
	return strings.ReplaceAll(params["filename"], "%22", `"`), nil
}

func (s *stream) spool(key, filename string, p *multipart.Part) error {
	f, err := os.CreateTemp(s.tmpDir, "veil-upload-*")
	if err != nil {
		return fmt.Errorf("upload: spool file %s: %w", key, err)
	}
	s.open_ = append(s.open_, f)
	if _, err := io.Copy(spoolWriter{f: f, s: s}, p); err != nil {
		var sl *SpoolLimitError
		if errors.As(err, &sl) {
			return sl
		}
		return fmt.Errorf("upload: spool file %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("upload: spool file %s: %w", key, err)
	}
	s.spooled[key] = spooledPart{path: f.Name(), filename: filename, contentType: p.Header.Get("Content-Type")}
	return nil
}

// close removes every spooled file and gives its bytes back to the shared budget. The transport
// defers it, so it runs on every path: success, error, client abort, panic.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.open_ {
		f.Close()
		os.Remove(f.Name())
	}
	s.open_ = nil
	s.budget.release(s.spooledBytes)
	s.spooledBytes = 0
}

// unread reports whether file parts remain in the body.
func (s *stream) unread() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.done && len(s.consumed) < len(s.expected)
}

// Error is a client mistake in how a file was sent.
type Error struct{ msg string }

func (e *Error) Error() string { return "upload: " + e.msg }

// UploadError marks the error as the client's (see server's error presenter).
func (e *Error) UploadError() {}
