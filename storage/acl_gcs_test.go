package storage_test

// No Google Cloud Storage is reachable from here, so the GCS driver runs against fake-gcs-server
// (github.com/fsouza/fake-gcs-server v1.52.2) started in the test and reached the way gocloud
// reaches an emulator (STORAGE_EMULATOR_HOST): the bucket is opened from a gs:// URL by
// storage.Open, exactly as veil serve opens it.
//
// What the fake implements (read in its source): the JSON API's object ACL calls (list, get,
// insert, update and delete of /b/{bucket}/o/{object}/acl[/{entity}]), stored with each object.
// Where it differs from GCS: an update replaces the whole ACL with the one entry (GCS changes only
// that entity); deleting an entry that is not there answers 200 (GCS answers 404: asRealGCS puts
// that back, so the driver's "absent entry is success" branch runs); it knows neither uniform
// bucket-level access nor public access prevention (refuse puts GCS's documented refusals in front
// of it); and it serves every object to anyone, whatever its ACL.
//
// So these tests prove: the driver reaches the *storage.Client through As; allUsers:READER is
// added and removed as seen by listing the object's ACL through a separate handle; the shared
// conformance suite (idempotence, nested keys, missing objects as ErrNotFound in both directions,
// cancellation, 50 concurrent calls); detection under "", "auto" and "gcs-acl"; the probe object
// is deleted whatever the outcome; and GCS's refusals (400 "uniform bucket-level access", 412
// "public access prevention") become proxy-only with the reason, while throttling, server errors
// and a missing IAM permission are ErrUnavailable (retried).
//
// Only a real bucket would add: an anonymous GET of https://storage.googleapis.com/<bucket>/<key>
// answering 200 once allUsers:READER is set and 403 once it is removed; that GCS refuses with
// exactly the errors reproduced here (taken from GCS responses quoted in public issue threads); and
// that Veil's service account may change object ACLs (e.g. roles/storage.objectAdmin).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	gcs "cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"

	"github.com/veil-media/veil/storage"
)

const gcsTestBucket = "veil-test"

// gcsStore starts fake-gcs-server with one bucket behind front (nil: the fake alone), points
// gocloud's emulator support at it and opens gs://veil-test through storage.Open.
func gcsStore(t *testing.T, front func(fake http.Handler) http.Handler) (*storage.Store, *gcs.Client) {
	t.Helper()
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatalf("fake-gcs-server: %v", err)
	}
	fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: gcsTestBucket})
	h := fake.HTTPHandler()
	if front != nil {
		h = front(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL, "http://"))
	store, err := storage.Open(context.Background(), storage.Config{URL: "gs://" + gcsTestBucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var client *gcs.Client
	if !store.Bucket.As(&client) {
		t.Fatal("gcsblob bucket does not expose *storage.Client")
	}
	return store, client
}

// aclPath matches the JSON API's object ACL calls; the object name is escaped (%2F), so it is one
// path segment.
var aclPath = regexp.MustCompile(`^/storage/v1/b/[^/]+/o/[^/]+/acl(/[^/]+)?$`)

// asRealGCS answers the deletion of an absent ACL entry with 404, as GCS does (the fake answers
// 200), counting those answers in absent.
func asRealGCS(absent *atomic.Int64) func(http.Handler) http.Handler {
	return func(fake http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if m := aclPath.FindStringSubmatch(r.URL.EscapedPath()); r.Method == http.MethodDelete && m != nil && m[1] != "" {
				get := r.Clone(r.Context())
				get.Method, get.Body = http.MethodGet, http.NoBody
				rec := httptest.NewRecorder()
				fake.ServeHTTP(rec, get)
				if rec.Code == http.StatusNotFound {
					absent.Add(1)
					writeGCSError(w, http.StatusNotFound, "notFound", "Not Found")
					return
				}
			}
			fake.ServeHTTP(w, r)
		})
	}
}

// refuse answers the object ACL calls that match with a GCS error, as a bucket that refuses them
// does; everything else reaches the fake.
func refuse(match func(r *http.Request) bool, status int, reason, message string) func(http.Handler) http.Handler {
	return func(fake http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if aclPath.MatchString(r.URL.EscapedPath()) && match(r) {
				writeGCSError(w, status, reason, message)
				return
			}
			fake.ServeHTTP(w, r)
		})
	}
}

// writeGCSError writes the JSON error body of the GCS JSON API.
func writeGCSError(w http.ResponseWriter, status int, reason, message string) {
	type item struct {
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []item `json:"errors"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = status, message
	body.Error.Errors = []item{{Domain: "global", Reason: reason, Message: message}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// GCS's refusals, as it words them.
const (
	uniformMessage = "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access"
	papMessage     = "The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced."
)

func TestGCSACLConformance(t *testing.T) {
	var absent atomic.Int64
	store, client := gcsStore(t, asRealGCS(&absent))
	ctx := context.Background()
	var acl storage.ACL
	for _, name := range []string{"", "auto", "gcs-acl"} {
		a, err := storage.ACLFor(ctx, store, name, nil)
		if err != nil {
			t.Fatalf("ACLFor(gs, %q): %v", name, err)
		}
		if a.Name() != "gcs-acl" {
			t.Fatalf("ACLFor(gs, %q) = %s, want gcs-acl", name, a.Name())
		}
		acl = a
	}
	for _, name := range []string{"s3-acl", "s3-tags", "file-mode"} {
		if _, err := storage.ACLFor(ctx, store, name, nil); err == nil {
			t.Errorf("%s accepted on a gs:// bucket", name)
		}
	}
	if keys, err := listKeys(store); err != nil || len(keys) != 0 {
		t.Errorf("the probes left objects behind: %v (%v)", keys, err)
	}
	runACLConformance(t, aclHarness{store: store, acl: acl, knowsBucket: true, changes: true,
		observe: func(t *testing.T, key string) bool {
			rules, err := client.Bucket(gcsTestBucket).Object(key).ACL().List(ctx)
			if err != nil {
				t.Fatalf("list ACL of %s: %v", key, err)
			}
			for _, r := range rules {
				if r.Entity == gcs.AllUsers && r.Role == gcs.RoleReader {
					return true
				}
			}
			return false
		}})
	if err := acl.SetPublic(ctx, "originals/img_missing/none.jpg", false); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("private on a missing object: %v, want ErrNotFound", err)
	}
	if absent.Load() == 0 {
		t.Error("no private call met an absent allUsers entry: the 404 branch went untested")
	}
}

func listKeys(s *storage.Store) ([]string, error) {
	var keys []string
	it := s.Bucket.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return keys, err
		}
		keys = append(keys, obj.Key)
	}
}

// TestGCSRefusalsAreProxyOnly: a bucket with uniform bucket-level access refuses every object ACL
// call; one enforcing public access prevention refuses only allUsers grants (so probing with
// "private" alone would pass). Either way detection reports proxy-only with the reason, an explicit
// gcs-acl is refused, and the probe object is gone.
func TestGCSRefusalsAreProxyOnly(t *testing.T) {
	// An update of the allUsers entry, or an insert (whose entity is in the body; the driver uses
	// updates).
	grantsAllUsers := func(r *http.Request) bool {
		switch r.Method {
		case http.MethodPut, http.MethodPatch:
			return strings.HasSuffix(r.URL.Path, "/acl/"+string(gcs.AllUsers))
		case http.MethodPost:
			return strings.HasSuffix(r.URL.Path, "/acl")
		}
		return false
	}
	for _, c := range []struct {
		name   string
		front  func(http.Handler) http.Handler
		reason string
	}{
		{"uniform bucket-level access", refuse(func(*http.Request) bool { return true }, http.StatusBadRequest, "invalid", uniformMessage), "uniform bucket-level access"},
		{"public access prevention", refuse(grantsAllUsers, http.StatusPreconditionFailed, "conditionNotMet", papMessage), "public access prevention"},
	} {
		t.Run(c.name, func(t *testing.T) {
			store, _ := gcsStore(t, c.front)
			ctx := context.Background()
			acl, err := storage.ACLFor(ctx, store, "auto", nil)
			if acl != nil || !errors.Is(err, storage.ErrACLNotSupported) {
				t.Fatalf("auto = %v, %v; want ErrACLNotSupported", acl, err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.reason) || !strings.Contains(msg, "proxy-only") || !strings.Contains(msg, "gs://"+gcsTestBucket) {
				t.Errorf("the error does not name the bucket, the reason and proxy-only: %v", err)
			}
			t.Logf("reported: %v", err)
			if _, err := storage.ACLFor(ctx, store, "gcs-acl", nil); !errors.Is(err, storage.ErrACLNotSupported) {
				t.Errorf("explicit gcs-acl: %v, want ErrACLNotSupported", err)
			}
			if keys, err := listKeys(store); err != nil || len(keys) != 0 {
				t.Errorf("the probe was left behind: %v (%v)", keys, err)
			}
		})
	}
}

// TestGCSErrorClassification: only GCS's ACL refusals are ErrACLNotSupported; throttling, server
// errors, a missing IAM permission and other bad requests are ErrUnavailable (so the sync retries),
// missing objects ErrNotFound, and cancellation passes through.
func TestGCSErrorClassification(t *testing.T) {
	apiErr := func(code int, message string) error { return &googleapi.Error{Code: code, Message: message} }
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"uniform", apiErr(http.StatusBadRequest, uniformMessage), storage.ErrACLNotSupported},
		{"uniform in the item", &googleapi.Error{Code: http.StatusBadRequest, Errors: []googleapi.ErrorItem{{Reason: "invalid", Message: uniformMessage}}}, storage.ErrACLNotSupported},
		{"public access prevention", apiErr(http.StatusPreconditionFailed, papMessage), storage.ErrACLNotSupported},
		{"other bad request", apiErr(http.StatusBadRequest, "Invalid argument."), storage.ErrUnavailable},
		{"other precondition", apiErr(http.StatusPreconditionFailed, "Precondition Failed"), storage.ErrUnavailable},
		{"no IAM permission", apiErr(http.StatusForbidden, "veil@p.iam.gserviceaccount.com does not have storage.objects.update access"), storage.ErrUnavailable},
		{"throttled", apiErr(http.StatusTooManyRequests, ""), storage.ErrUnavailable},
		{"server error", apiErr(http.StatusServiceUnavailable, ""), storage.ErrUnavailable},
		{"network", errors.New("dial tcp: connection refused"), storage.ErrUnavailable},
		{"missing object", gcs.ErrObjectNotExist, storage.ErrNotFound},
		{"404", apiErr(http.StatusNotFound, "No such object: veil-test/k"), storage.ErrNotFound},
		{"cancelled", context.Canceled, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := storage.ClassifyGCSForTest("originals/img_A/a.jpg", c.err)
			if !errors.Is(err, c.want) {
				t.Fatalf("classify(%v) = %v, want %v", c.err, err, c.want)
			}
			if c.want != context.Canceled && !strings.Contains(err.Error(), "originals/img_A/a.jpg") {
				t.Errorf("the error does not name the key: %v", err)
			}
		})
	}
	if storage.ClassifyGCSForTest("k", nil) != nil {
		t.Error("nil did not stay nil")
	}
}

// TestAzureIsProxyOnly: Azure Blob Storage has no per-blob public access; auto reports proxy-only
// with that reason without touching the container, and gcs-acl is refused on it.
func TestAzureIsProxyOnly(t *testing.T) {
	az := &storage.Store{Scheme: "azblob"}
	for _, name := range []string{"", "auto"} {
		acl, err := storage.ACLFor(context.Background(), az, name, nil)
		if acl != nil || !errors.Is(err, storage.ErrACLNotSupported) {
			t.Fatalf("ACLFor(azblob, %q) = %v, %v; want ErrACLNotSupported", name, acl, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "per container") || !strings.Contains(msg, "proxy-only") {
			t.Errorf("ACLFor(azblob, %q): the error does not give the Azure reason: %v", name, err)
		}
	}
	if _, err := storage.ACLFor(context.Background(), az, "gcs-acl", nil); err == nil {
		t.Error("gcs-acl accepted on an azblob:// store")
	}
}
