package app_test

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/veil-media/veil/app"
)

// defaultsBefore are the defaults the settings had as strings in cmd/veil before the table:
// moving them into each package's DefaultConfig changed none.
var defaultsBefore = map[string]string{
	"VEIL_LISTEN":                     "127.0.0.1:8080",
	"VEIL_METRICS_LISTEN":             "127.0.0.1:9090",
	"VEIL_DATA_DIR":                   "./data",
	"VEIL_DATA_DIR_MODE":              "0750",
	"VEIL_MAX_IMAGE_BYTES":            "50MiB",
	"VEIL_MAX_DOCUMENT_BYTES":         "2GiB",
	"VEIL_MAX_REQUEST_BYTES":          "1MiB",
	"VEIL_UPLOAD_SPOOL_REQUEST_MAX":   "256MiB",
	"VEIL_UPLOAD_SPOOL_MAX":           "1GiB",
	"VEIL_MAX_SOURCE_PIXELS":          "50000000",
	"VEIL_MAX_COMPLEXITY":             "5000",
	"VEIL_MAX_QUERY_TOKENS":           "10000",
	"VEIL_MAX_QUERY_DEPTH":            "20",
	"VEIL_MAX_QUERY_FIELDS":           "2000",
	"VEIL_MAX_ALIASES":                "100",
	"VEIL_MAX_QUERY_FRAGMENTS":        "50",
	"VEIL_MAX_QUERY_OPERATIONS":       "20",
	"VEIL_MAX_RESPONSE_BYTES":         "4MiB",
	"VEIL_INTROSPECTION":              "true",
	"VEIL_RENDITION_MAX_MEMORY":       "1GiB",
	"VEIL_RENDITION_MAX_QUEUE":        "64",
	"VEIL_RENDITION_MAX_SLOW_ENCODES": "0",
	"VEIL_RENDITION_TIMEOUT":          "30s",
	"VEIL_RENDITION_MAX_PER_IMAGE":    "100",
	"VEIL_RENDITION_ANONYMOUS":        "any",
	"VEIL_MAX_OUTPUT_SIDE":            "4000",
	"VEIL_MAX_AVIF_PIXELS":            "4000000",
	"VEIL_MAX_OPERATIONS":             "10",
	"VEIL_JPEG_QUALITY":               "76",
	"VEIL_WEBP_QUALITY":               "80",
	"VEIL_AVIF_QUALITY":               "61",
	"VEIL_AVIF_SPEED":                 "8",
	"VEIL_AUTH_CACHE_TTL":             "2s",
	"VEIL_MAX_PREVIEW_TTL":            "24h",
	"VEIL_AUTH_FAILURES_PER_MINUTE":   "20",
	"VEIL_EVENTS_URL":                 "mem://",
	"VEIL_PERMISSION_WORKERS":         "64",
	"VEIL_PERMISSION_CALL_TIMEOUT":    "10s",
	"VEIL_STORAGE_ACL":                "auto",
	"VEIL_PERMISSION_RETRY_INTERVAL":  "5m",
	"VEIL_PERMISSION_RETRY_BATCH":     "500",
	"VEIL_SERVE_CACHE_TTL":            "1s",
	"VEIL_SUBSCRIPTION_BUFFER":        "1024",
	"VEIL_LOG_LEVEL":                  "info",
	"VEIL_LOG_FORMAT":                 "text",
	"VEIL_SHUTDOWN_TIMEOUT":           "60s",
}

func load(t *testing.T, args ...string) (app.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("veil serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return app.Register(fs).Load(args)
}

// TestSettingsTable: every setting names a Config field of the kind it parses, has a flag, a
// VEIL_* variable and a meaning, none twice; the defaults are those of before; the defaults load
// and validate.
func TestSettingsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range app.Settings {
		for _, k := range []string{"flag " + s.Flag, "env " + s.Env, "field " + s.Field} {
			if seen[k] {
				t.Errorf("%s appears twice", k)
			}
			seen[k] = true
		}
		if s.Flag == "" || !strings.HasPrefix(s.Env, "VEIL_") || s.Usage == "" || s.Kind == "" {
			t.Errorf("incomplete setting %+v", s)
		}
		if want, ok := defaultsBefore[s.Env]; ok && s.DefaultText() != want {
			t.Errorf("%s: default %q, was %q", s.Env, s.DefaultText(), want)
		}
	}
	for env := range defaultsBefore {
		if app.Env(fieldOf(env)) == "" {
			t.Errorf("%s is no longer a setting", env)
		}
	}
	c, err := load(t, "--data-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	def := app.Defaults()
	if c.Media.MaxImageBytes != def.Media.MaxImageBytes || c.Listen != def.Listen || !reflect.DeepEqual(c.Server.Query, def.Server.Query) {
		t.Errorf("loaded defaults differ from Defaults()")
	}
	if !strings.HasPrefix(c.DB.URL, "sqlite:") || !strings.HasPrefix(c.Storage.URL, "file://") {
		t.Errorf("derived URLs: %q %q", c.DB.URL, c.Storage.URL)
	}
}

func fieldOf(env string) string {
	for _, s := range app.Settings {
		if s.Env == env {
			return s.Field
		}
	}
	return ""
}

// TestEverySettingNamesItselfWhenWrong: a value of the wrong kind, or one its package refuses,
// is an error naming the flag when given as a flag and the variable when set in the environment.
func TestEverySettingNamesItselfWhenWrong(t *testing.T) {
	bad := map[app.Kind]string{
		app.KindInt: "ten", app.KindSize: "-5", app.KindDuration: "soon", app.KindBool: "maybe",
		app.KindMode: "rwx", app.KindPresets: "nameonly", app.KindLevel: "loud", app.KindCIDRs: "10.0.0.0/99",
	}
	// String settings take any text; these are the ones whose package refuses some.
	badString := map[string]string{
		"VEIL_LISTEN": "8081", "VEIL_METRICS_LISTEN": "nonsense", "VEIL_DATABASE_URL": "mysql://x",
		"VEIL_STORAGE_URL": "ftp://x", "VEIL_PUBLIC_URL": "media.example", "VEIL_SECRET": "short",
		"VEIL_BOOTSTRAP_TOKEN": "short", "VEIL_RENDITION_ANONYMOUS": "some", "VEIL_CDN_PURGE": "varnish",
		"VEIL_EVENTS_URL": "kafka://x", "VEIL_STORAGE_ACL": "chmod", "VEIL_PUBLIC_STORAGE_URL": "bucket",
		"VEIL_LOG_FORMAT": "xml",
	}
	for _, s := range app.Settings {
		v, ok := bad[s.Kind]
		if s.Kind == app.KindString || s.Kind == app.KindList || s.Kind == app.KindSpecs {
			v, ok = badString[s.Env]
		}
		if !ok {
			continue
		}
		t.Run(s.Env, func(t *testing.T) {
			if _, err := load(t, "--data-dir", t.TempDir(), "--"+s.Flag+"="+v); err == nil || !strings.Contains(err.Error(), "--"+s.Flag+":") {
				t.Errorf("--%s=%s: %v, want an error naming the flag", s.Flag, v, err)
			}
			t.Setenv(s.Env, v)
			if _, err := load(t, "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), s.Env+":") {
				t.Errorf("%s=%s: %v, want an error naming the variable", s.Env, v, err)
			}
		})
	}
}

// TestEphemeralServesNoMetricsByDefault: an ephemeral instance does not take the default metrics
// port (two CI jobs on one runner would collide), unless the operator names one.
func TestEphemeralServesNoMetricsByDefault(t *testing.T) {
	c, err := load(t, "--ephemeral")
	if err != nil || c.MetricsListen != "" || c.DB.URL == "" || c.Storage.URL != "mem://" {
		t.Errorf("--ephemeral: metrics %q, db %q, storage %q, %v", c.MetricsListen, c.DB.URL, c.Storage.URL, err)
	}
	if c, err := load(t, "--ephemeral", "--metrics-listen", "127.0.0.1:0"); err != nil || c.MetricsListen != "127.0.0.1:0" {
		t.Errorf("--ephemeral with a metrics address: %q, %v", c.MetricsListen, err)
	}
}
