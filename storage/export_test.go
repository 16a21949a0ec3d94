package storage

// ClassifyGCSForTest exposes the GCS error classifier to the external tests.
var ClassifyGCSForTest = classifyGCS

// ThroughBucketForTest returns a copy of s that writes through gocloud's fileblob writer, as Write
// did before it wrote a folder bucket's files directly.
func ThroughBucketForTest(s *Store) *Store {
	c := *s
	c.folder = nil
	return &c
}
