package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/veil-media/veil/storage"
)

// s3Store opens a new bucket on the S3 server named by VEIL_TEST_S3_ENDPOINT (Ceph radosgw here:
// it implements object ACLs like AWS; .ci/run starts it), or skips.
func s3Store(t *testing.T) (*storage.Store, string) {
	t.Helper()
	endpoint := os.Getenv("VEIL_TEST_S3_ENDPOINT")
	if endpoint == "" || os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		t.Skip("VEIL_TEST_S3_ENDPOINT and AWS credentials are not set (see tools/s3-radosgw)")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	bucket := "veil-test-" + hex.EncodeToString(b[:])
	q := url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	store, err := storage.Open(context.Background(), storage.Config{URL: "s3://" + bucket + "?" + q.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var client *s3.Client
	if !store.Bucket.As(&client) {
		t.Fatal("not an s3 bucket")
	}
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return store, endpoint + "/" + bucket + "/"
}

// anonymousGet is what a browser or CDN without credentials gets for an object.
func anonymousGet(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestS3ACLConformance(t *testing.T) {
	store, base := s3Store(t)
	acl, err := storage.ACLFor(context.Background(), store, "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	if acl.Name() != "s3-acl" {
		t.Fatalf("detected %s, want s3-acl on a bucket with object ACLs", acl.Name())
	}
	runACLConformance(t, aclHarness{store: store, acl: acl, knowsBucket: true, changes: true,
		observe: func(t *testing.T, key string) bool {
			switch code := anonymousGet(t, base+key); code {
			case 200:
				return true
			case 403:
				return false
			default:
				t.Fatalf("anonymous GET %s: %d", key, code)
				return false
			}
		}})
	if _, err := storage.ACLFor(context.Background(), store, "s3-tags", nil); err == nil {
		t.Error("s3-tags accepted on a bucket that supports (and was detected with) ACLs")
	}
}

func TestS3TagConformance(t *testing.T) {
	store, _ := s3Store(t)
	tags, err := storage.NewS3TagACL(store)
	if err != nil {
		t.Fatal(err)
	}
	var client *s3.Client
	store.Bucket.As(&client)
	runACLConformance(t, aclHarness{store: store, acl: tags, knowsBucket: true, changes: true,
		observe: func(t *testing.T, key string) bool {
			out, err := client.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String(store.BucketName), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range out.TagSet {
				if aws.ToString(tag.Key) == "veil-privacy" {
					return aws.ToString(tag.Value) == "public"
				}
			}
			return false
		}})
}
