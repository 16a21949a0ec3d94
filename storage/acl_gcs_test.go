package storage_test

// No Google Cloud Storage is reachable from here, so the GCS driver runs against fake-gcs-server
// (github.com/fsouza/fake-gcs-server) started in the test, reached the way gocloud reaches an
// emulator (STORAGE_EMULATOR_HOST) — a fake, because no real part can run here. It proves what
// Veil sends: the bucket is opened from a gs:// URL through gocloud, the driver reaches the
// *storage.Client through As, object ACL entries for allUsers are added and removed, missing
// objects are ErrNotFound, and the probe at start-up detects the driver. It does not prove what
// only a real bucket shows: that an anonymous GET of https://storage.googleapis.com/<bucket>/<key>
// answers 200 once allUsers:READER is set and 403 after it is removed (the fake serves every object
// to anyone), and the exact refusal of a bucket with uniform bucket-level access (the classifier is
// tested on the error GCS documents instead).

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	gcs "cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"

	"github.com/veil-media/veil/storage"
)

func gcsStore(t *testing.T) (*storage.Store, *gcs.Client) {
	t.Helper()
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatalf("fake-gcs-server: %v", err)
	}
	t.Cleanup(fake.Stop)
	fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "veil-test"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(fake.URL(), "http://"))
	store, err := storage.Open(context.Background(), storage.Config{URL: "gs://veil-test"})
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

func TestGCSACLConformance(t *testing.T) {
	store, client := gcsStore(t)
	acl, err := storage.ACLFor(context.Background(), store, "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	if acl.Name() != "gcs-acl" {
		t.Fatalf("detected %s, want gcs-acl", acl.Name())
	}
	if _, err := storage.ACLFor(context.Background(), store, "gcs-acl", nil); err != nil {
		t.Errorf("explicit gcs-acl: %v", err)
	}
	if _, err := storage.ACLFor(context.Background(), store, "s3-acl", nil); err == nil {
		t.Error("s3-acl accepted on a gs:// bucket")
	}
	if names, err := listKeys(store); err != nil || len(names) != 0 {
		t.Errorf("the probe left objects behind: %v", names)
	}
	runACLConformance(t, aclHarness{store: store, acl: acl, knowsBucket: true, changes: true,
		observe: func(t *testing.T, key string) bool {
			rules, err := client.Bucket("veil-test").Object(key).ACL().List(context.Background())
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

// TestGCSUniformBucketIsProxyOnly: the refusal GCS documents for object ACLs on a bucket with
// uniform bucket-level access is ErrACLNotSupported (so start-up reports proxy-only), while
// throttling and server errors are ErrUnavailable (so the sync retries).
func TestGCSUniformBucketIsProxyOnly(t *testing.T) {
	uniform := &googleapi.Error{Code: http.StatusBadRequest,
		Message: "Cannot use ACL API to update object policy when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access",
		Errors:  []googleapi.ErrorItem{{Reason: "invalid"}}}
	if err := storage.ClassifyGCSForTest("k", uniform); !errors.Is(err, storage.ErrACLNotSupported) {
		t.Errorf("uniform refusal: %v", err)
	}
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusForbidden} {
		if err := storage.ClassifyGCSForTest("k", &googleapi.Error{Code: code}); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%d: %v", code, err)
		}
	}
	if err := storage.ClassifyGCSForTest("k", gcs.ErrObjectNotExist); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing object: %v", err)
	}
}

// TestAzureIsProxyOnly: Azure Blob Storage has no per-blob public access; auto reports proxy-only
// with that reason, without touching the container.
func TestAzureIsProxyOnly(t *testing.T) {
	_, err := storage.ACLFor(context.Background(), &storage.Store{Scheme: "azblob"}, "auto", nil)
	if !errors.Is(err, storage.ErrACLNotSupported) || !strings.Contains(err.Error(), "per container") {
		t.Errorf("azblob: %v", err)
	}
}
