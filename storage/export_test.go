package storage

// ClassifyGCSForTest exposes the GCS error classifier to the external tests.
var ClassifyGCSForTest = classifyGCS
