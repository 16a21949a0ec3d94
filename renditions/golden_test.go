package renditions

import "flag"

// update regenerates the golden files under renditions/testdata/ instead of comparing with
// them (go test ./renditions -run TestName -update). Tests that use it say which tools
// regenerating needs.
var update = flag.Bool("update", false, "regenerate golden files in renditions/testdata")
