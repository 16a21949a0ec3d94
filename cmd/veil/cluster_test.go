package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

var (
	clusterOnce sync.Once
	clusterBin  string
	clusterErr  error
)

// veilBinary builds the veil binary once per test run.
func veilBinary(t *testing.T) string {
	t.Helper()
	clusterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "veil-bin-")
		if err != nil {
			clusterErr = err
			return
		}
		clusterBin = filepath.Join(dir, "veil")
		out, err := exec.Command("go", "build", "-o", clusterBin, ".").CombinedOutput()
		if err != nil {
			clusterErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return clusterBin
}

type instance struct {
	cmd     *exec.Cmd
	url     string
	metrics string // base URL of the metrics listener
	token   string
	out     *bytes.Buffer
	logs    *veiltest.LockedBuffer // stderr: the JSON log
}

var (
	runningRE = regexp.MustCompile(`Veil is running at (http://\S+)`)
	metricsRE = regexp.MustCompile(`Metrics at (http://\S+)/metrics`)
)

// waitSubscriptions waits until inst has n open event subscriptions (its veil_subscriptions
// gauge): graphql-transport-ws does not acknowledge a subscribe message.
func waitSubscriptions(t *testing.T, inst *instance, n int) {
	t.Helper()
	want := fmt.Sprintf("\nveil_subscriptions %d\n", n)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(inst.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions never opened", n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing an outcome
	}
}

// startVeil runs `veil serve` with env and returns its URL and the bootstrap token if it printed one.
func startVeil(t *testing.T, env []string) *instance {
	t.Helper()
	cmd := exec.Command(veilBinary(t), "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	stderr := &veiltest.LockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	inst := &instance{cmd: cmd, out: &bytes.Buffer{}, logs: stderr}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(20 * time.Second)
	for inst.url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("veil exited:\n%s\n%s", inst.out, stderr.String())
			}
			inst.out.WriteString(l + "\n")
			if strings.HasPrefix(strings.TrimSpace(l), "veil_") {
				inst.token = strings.TrimSpace(l)
			}
			if m := runningRE.FindStringSubmatch(l); m != nil {
				inst.url = m[1]
			}
			if m := metricsRE.FindStringSubmatch(l); m != nil {
				inst.metrics = m[1]
			}
		case <-deadline:
			t.Fatalf("veil did not start:\n%s\n%s", inst.out, stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return inst
}

func gql(t *testing.T, base, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out["errors"] != nil {
		t.Fatalf("%s: %v %v", query, out, err)
	}
	return out["data"].(map[string]any)
}

// TestTwoInstancesShareEvents runs two `veil serve` processes on one Postgres, one folder bucket
// and NATS: a subscription on the first receives the privacy change and the file-permission
// results of a publish performed through the second. Then both retry loops (every second) work
// through 300 outdated items at once: every item's file is set exactly once, by one of them.
func TestTwoInstancesShareEvents(t *testing.T) {
	natsURL := os.Getenv("NATS_SERVER_URL")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(natsURL, "nats://"), time.Second); err != nil {
		t.Skipf("NATS is not reachable at %s: %v", natsURL, err)
	} else {
		c.Close()
	}
	dbURL := veiltest.PostgresURL(t) // skips without VEIL_TEST_POSTGRES_URL
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	env := []string{
		"VEIL_DATABASE_URL=" + dbURL,
		"VEIL_STORAGE_URL=file://" + filepath.Join(t.TempDir(), "media"),
		"VEIL_DATA_DIR=" + t.TempDir(),
		"VEIL_SECRET=" + strings.Repeat("s", 40),
		"VEIL_EVENTS_URL=nats://veil-test-" + hex.EncodeToString(rnd[:]),
		"NATS_SERVER_URL=" + natsURL,
		"VEIL_STORAGE_ACL=simulate", // logs each permission it sets: the test reads who set what
		"VEIL_LOG_FORMAT=json",
		"VEIL_PERMISSION_RETRY_INTERVAL=1s",
		"VEIL_PERMISSION_RETRY_BATCH=7", // many small claims, so the two loops interleave
	}
	a := startVeil(t, env)
	b := startVeil(t, env)
	token := a.token + b.token // exactly one of them bootstrapped the admin
	if token == "" || a.token != "" && b.token != "" {
		t.Fatalf("bootstrap tokens: a=%q b=%q", a.token, b.token)
	}

	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(a.url, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	var ack map[string]any
	if err := ws.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("init: %v %v", ack, err)
	}
	_ = ws.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { privacyChanged { mediaId privacy cause } }"}})
	_ = ws.WriteJSON(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"query": "subscription { filePermissionResults { mediaId key public ok complete } }"}})
	waitSubscriptions(t, a, 2)

	// Upload and publish through B.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadImage(input: {file: $f}) { id } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "upright.jpg")
	src, err := os.ReadFile(veiltest.Corpus(t, "orientation/upright.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(src)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.url+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var up struct {
		Data struct{ UploadImage struct{ ID string } }
	}
	if err := json.Unmarshal(raw, &up); err != nil || up.Data.UploadImage.ID == "" {
		t.Fatalf("upload through B: %s", raw)
	}
	img := up.Data.UploadImage.ID
	c := gql(t, b.url, token, `mutation($m: ID!) { upsertContent(input: {kind: "page", key: "home", references: [{mediaId: $m}]}) { id } }`, map[string]any{"m": img})
	cid := c["upsertContent"].(map[string]any)["id"]
	gql(t, b.url, token, `mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": cid})

	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sawPrivacy, sawFile, sawComplete bool
	for !sawPrivacy || !sawFile || !sawComplete {
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("A did not receive B's results (privacy %v, file %v, complete %v): %v", sawPrivacy, sawFile, sawComplete, err)
		}
		if m["type"] != "next" {
			continue
		}
		data := m["payload"].(map[string]any)["data"].(map[string]any)
		if ev, ok := data["privacyChanged"].(map[string]any); ok && ev["mediaId"] == img && ev["privacy"] == "PUBLIC" && ev["cause"] == "publish" {
			sawPrivacy = true
		}
		if ev, ok := data["filePermissionResults"].(map[string]any); ok && ev["mediaId"] == img && ev["public"] == true && ev["ok"] == true {
			if ev["complete"] == true {
				sawComplete = true
			} else {
				sawFile = true
			}
		}
	}
	ws.Close()

	retryLoopsTakeTurns(t, dbURL, img, a, b)
}

// retryLoopsTakeTurns makes 300 copies of img with outdated permissions and their own keys, waits
// for the two instances' retry loops to settle them, and reads from each instance's log which
// files it set.
func retryLoopsTakeTurns(t *testing.T, dbURL, img string, a, b *instance) {
	ctx := context.Background()
	db, err := models.Open(ctx, models.DBConfig{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var src models.Image
	if err := db.NewSelect().Model(&src).Where("id = ?", img).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	rows := make([]models.Image, 300)
	for i := range rows {
		cp := src
		cp.ID = media.NewID(media.KindImage)
		cp.SHA256 = fmt.Sprintf("%064x", i+1)
		cp.StorageKey = "originals/" + cp.ID + "/copy.jpg"
		cp.FilePermissionsLastSet = nil
		rows[i] = cp
		want[cp.StorageKey] = true
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := db.NewSelect().Model((*models.Image)(nil)).Where("file_permissions_last_set IS NULL").Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d items still outdated after 30s of two retry loops", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	setBy := map[string][]string{}
	for name, inst := range map[string]*instance{"a": a, "b": b} {
		for _, line := range strings.Split(inst.logs.String(), "\n") {
			var rec struct{ Msg, Key string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "would set file permission" && want[rec.Key] {
				setBy[rec.Key] = append(setBy[rec.Key], name)
			}
		}
	}
	perInstance := map[string]int{}
	for key := range want {
		switch by := setBy[key]; len(by) {
		case 1:
			perInstance[by[0]]++
		case 0:
			t.Errorf("%s was never set", key)
		default:
			t.Errorf("%s was set %d times, by %v", key, len(by), by)
		}
	}
	t.Logf("the two retry loops set %d and %d of the 300 items", perInstance["a"], perInstance["b"])
}
