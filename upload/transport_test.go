package upload

import (
	"encoding/json"
	"testing"
)

func TestSetPath(t *testing.T) {
	vars := func() map[string]any {
		var v map[string]any
		_ = json.Unmarshal([]byte(`{"a":null,"input":{"file":null,"files":[null,null],"x":1},"list":[{"f":null}]}`), &v)
		return v
	}
	f := &File{key: "0"}
	for _, ok := range []string{"variables.a", "variables.input.file", "variables.input.files.1", "variables.list.0.f"} {
		if err := setPath(vars(), ok, f); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"a", "vars.a", "variables", "variables.missing", "variables.input.x", "variables.input.files.2",
		"variables.input.files.-1", "variables.input.files.x", "variables.input.x.y", "variables.input"} {
		if err := setPath(vars(), bad, f); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if err := setPath(nil, "variables.a", f); err == nil {
		t.Error("nil variables accepted")
	}
}
