package veiltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/veil-media/veil/storage"
)

// S3Env names the S3 server the S3 variants of Veil's tests run against (Ceph radosgw, see
// tools/s3-radosgw and .ci/run); the credentials are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
const S3Env = "VEIL_TEST_S3_ENDPOINT"

// S3Bucket creates a new bucket, named prefix and a random suffix, on the server named by
// VEIL_TEST_S3_ENDPOINT, and returns its storage URL and the base URL an anonymous GET of one of
// its objects uses. It skips the test when the server or its credentials are not set.
func S3Bucket(t testing.TB, prefix string) (storageURL, base string) {
	t.Helper()
	endpoint := os.Getenv(S3Env)
	if endpoint == "" || os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		t.Skip(S3Env + " and AWS credentials are not set (see tools/s3-radosgw)")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	bucket := prefix + hex.EncodeToString(b[:])
	q := url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	storageURL = "s3://" + bucket + "?" + q.Encode()
	store, err := storage.Open(context.Background(), storage.Config{URL: storageURL})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var client *s3.Client
	if !store.Bucket.As(&client) {
		t.Fatal("veiltest: not an s3 bucket")
	}
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("veiltest: create bucket: %v", err)
	}
	return storageURL, strings.TrimSuffix(endpoint, "/") + "/" + bucket + "/"
}
