// Command list-vs-handwritten is the hand-written baseline of Veil's images(first: 50) list: a
// plain net/http handler that runs the SQL Veil runs for that query (the page, the tags of the
// page, the collections of the page) on the same database, and writes the same bytes with
// encoding/json. run.sh compares its answers with Veil's byte for byte and then times the two
// alternately under wrk.
//
// The SQL is printed at start from Veil's own models and the same bun expressions as package
// media (ListImages, TagsByMediaID, CollectionsOfItems) for an admin viewer, with placeholders
// for the page's ids; nothing is retyped. On Postgres ($n placeholders) the three statements are
// prepared once per connection, as hand-written code on a driver with a statement cache would
// run them; on SQLite they run as before, through database/sql with arguments.
//
//	go run ./bench/list-vs-handwritten -db sqlite:/path/veil.db -listen 127.0.0.1:18283
//	go run ./bench/list-vs-handwritten -db 'postgres://user@host/db?sslmode=disable' …
//
// Environment: BASELINE_TOKEN, the bearer token the requests carry (compared, as Veil's
// authentication would refuse any other); VEIL_SECRET, to sign rendition URLs as Veil does.
//
// Endpoints: POST /full answers
//
//	{ images(first: 50) { nodes { id title alt filename url fileSize contentType sha256 width height
//	  privacy createdAt updatedAt focalPoint { x y width height } tags collection { id name }
//	  rendition(spec: "width-400") { url } } pageInfo { hasNextPage endCursor } } }
//
// and POST /lean answers { images(first: 50) { nodes { id title url } } }.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
)

const pageSize = 50

// The rendition asked for in the full query, and its canonical spelling in Veil's URLs.
const renditionSpec = "width-400"

type baseline struct {
	db      *sql.DB
	token   string
	signKey []byte
	pageSQL string
	tagsSQL func(n int) string
	colsSQL func(n int) string
	sqlByN  sync.Map // "tags/50" → SQL text
	bunDB   *models.DB
	stmts   sync.Map // SQL text → *sql.Stmt, on Postgres
}

func main() {
	dbURL := flag.String("db", "", "database URL (sqlite:<path>), as VEIL_DATABASE_URL")
	listen := flag.String("listen", "127.0.0.1:18283", "address to listen on")
	pprofAddr := flag.String("pprof", "", "address of a listener for /debug/pprof (none by default), to profile the baseline as Veil's metrics listener profiles Veil")
	flag.Parse()
	if *pprofAddr != "" {
		pm := http.NewServeMux()
		pm.HandleFunc("GET /debug/pprof/", pprof.Index)
		pm.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		go func() { log.Fatal(http.ListenAndServe(*pprofAddr, pm)) }()
	}
	ctx := context.Background()
	db, err := models.Open(ctx, models.DBConfig{URL: *dbURL})
	if err != nil {
		log.Fatal(err)
	}
	b := &baseline{db: db.DB.DB, bunDB: db, token: os.Getenv("BASELINE_TOKEN")}
	if s := os.Getenv("VEIL_SECRET"); s != "" {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte("veil rendition url signing key v1"))
		b.signKey = m.Sum(nil)
	}
	b.buildSQL()
	fmt.Printf("page SQL: %s\n", b.pageSQL)
	fmt.Printf("tags SQL: %s\n", b.tagsSQL(3))
	fmt.Printf("collections SQL: %s\n", b.colsSQL(3))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /full", func(w http.ResponseWriter, r *http.Request) { b.serve(w, r, false) })
	mux.HandleFunc("POST /lean", func(w http.ResponseWriter, r *http.Request) { b.serve(w, r, true) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	log.Fatal(http.ListenAndServe(*listen, mux))
}

// buildSQL prints Veil's queries with bun, the way package media builds them.
func (b *baseline) buildSQL() {
	var imgs []*models.Image
	b.pageSQL = b.bunDB.NewSelect().Model(&imgs).OrderExpr("id DESC").Limit(pageSize + 1).String()
	ph := func(n int) []bun.Safe {
		out := make([]bun.Safe, n)
		for i := range out {
			out[i] = "?"
			if b.bunDB.Dialect == models.Postgres {
				out[i] = bun.Safe(fmt.Sprintf("$%d", i+1))
			}
		}
		return out
	}
	b.tagsSQL = func(n int) string {
		var rows []models.MediaTag
		return b.bunDB.NewSelect().Model(&rows).Where("media_id IN (?)", bun.In(ph(n))).OrderExpr("media_id, tag").String()
	}
	b.colsSQL = func(n int) string {
		var rows []*models.Collection
		return b.bunDB.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ph(n))).String()
	}
}

func (b *baseline) sqlFor(kind string, n int) string {
	key := fmt.Sprintf("%s/%d", kind, n)
	if s, ok := b.sqlByN.Load(key); ok {
		return s.(string)
	}
	var s string
	if kind == "tags" {
		s = b.tagsSQL(n)
	} else {
		s = b.colsSQL(n)
	}
	b.sqlByN.Store(key, s)
	return s
}

type image struct {
	ID, CollectionID, Title, Alt, Filename, StorageKey, ContentType, SHA256 string
	Size                                                                    int64
	Width, Height                                                           int
	FocalX, FocalY, FocalWidth, FocalHeight                                 *int
	Privacy                                                                 string
	CreatedAt, UpdatedAt                                                    time.Time
}

// The JSON shapes, fields in the order of the query.
type (
	fullNode struct {
		ID          string      `json:"id"`
		Title       string      `json:"title"`
		Alt         string      `json:"alt"`
		Filename    string      `json:"filename"`
		URL         string      `json:"url"`
		FileSize    int64       `json:"fileSize"`
		ContentType string      `json:"contentType"`
		SHA256      string      `json:"sha256"`
		Width       int         `json:"width"`
		Height      int         `json:"height"`
		Privacy     string      `json:"privacy"`
		CreatedAt   time.Time   `json:"createdAt"`
		UpdatedAt   time.Time   `json:"updatedAt"`
		FocalPoint  *focal      `json:"focalPoint"`
		Tags        []string    `json:"tags"`
		Collection  *collection `json:"collection"`
		Rendition   rendition   `json:"rendition"`
	}
	focal struct {
		X      int `json:"x"`
		Y      int `json:"y"`
		Width  int `json:"width"`
		Height int `json:"height"`
	}
	collection struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	rendition struct {
		URL string `json:"url"`
	}
	pageInfo struct {
		HasNextPage bool    `json:"hasNextPage"`
		EndCursor   *string `json:"endCursor"`
	}
	fullResponse struct {
		Data struct {
			Images struct {
				Nodes    []fullNode `json:"nodes"`
				PageInfo pageInfo   `json:"pageInfo"`
			} `json:"images"`
		} `json:"data"`
	}
	leanNode struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
	leanResponse struct {
		Data struct {
			Images struct {
				Nodes []leanNode `json:"nodes"`
			} `json:"images"`
		} `json:"data"`
	}
)

func (b *baseline) serve(w http.ResponseWriter, r *http.Request, lean bool) {
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(b.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var req struct {
		Query string `json:"query"`
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || json.Unmarshal(body, &req) != nil || req.Query == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	imgs, hasNext, err := b.page(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if lean {
		var resp leanResponse
		resp.Data.Images.Nodes = make([]leanNode, len(imgs))
		for i, img := range imgs {
			resp.Data.Images.Nodes[i] = leanNode{ID: img.ID, Title: img.Title, URL: originalURL(img)}
		}
		writeJSON(w, resp)
		return
	}
	ids, colIDs := make([]string, len(imgs)), make([]string, 0, len(imgs))
	seen := make(map[string]bool, len(imgs))
	for i, img := range imgs {
		ids[i] = img.ID
		if !seen[img.CollectionID] {
			seen[img.CollectionID] = true
			colIDs = append(colIDs, img.CollectionID)
		}
	}
	tags, err := b.tags(ctx, ids)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	cols, err := b.collections(ctx, colIDs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var resp fullResponse
	nodes := make([]fullNode, len(imgs))
	for i, img := range imgs {
		n := &nodes[i]
		*n = fullNode{ID: img.ID, Title: img.Title, Alt: img.Alt, Filename: img.Filename, URL: originalURL(img),
			FileSize: img.Size, ContentType: img.ContentType, SHA256: img.SHA256, Width: img.Width, Height: img.Height,
			Privacy: img.Privacy, CreatedAt: img.CreatedAt, UpdatedAt: img.UpdatedAt, Tags: tags[img.ID],
			Collection: cols[img.CollectionID], Rendition: rendition{URL: b.renditionURL(img)}}
		if n.Tags == nil {
			n.Tags = []string{}
		}
		if img.FocalX != nil && img.FocalY != nil && img.FocalWidth != nil && img.FocalHeight != nil {
			n.FocalPoint = &focal{*img.FocalX, *img.FocalY, *img.FocalWidth, *img.FocalHeight}
		}
	}
	resp.Data.Images.Nodes = nodes
	resp.Data.Images.PageInfo.HasNextPage = hasNext
	if len(imgs) > 0 {
		c := base64.RawURLEncoding.EncodeToString([]byte("c:" + imgs[len(imgs)-1].ID))
		resp.Data.Images.PageInfo.EndCursor = &c
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(out)
}

func originalURL(img *image) string {
	return "/media/originals/" + img.ID + "/" + url.PathEscape(img.Filename)
}

// renditionURL is Veil's signed rendition URL for renditionSpec (a width-only spec: no focal key,
// the source's format).
func (b *baseline) renditionURL(img *image) string {
	m := hmac.New(sha256.New, b.signKey)
	m.Write([]byte("veil-rendition-v1\x00" + img.ID + "\x00" + renditionSpec + "\x00"))
	token := base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}[img.ContentType]
	return "/media/renditions/" + img.ID + "/" + token + "/" + renditionSpec + ext
}

func (b *baseline) page(ctx context.Context) ([]*image, bool, error) {
	rows, err := b.query(ctx, b.pageSQL)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, false, err
	}
	var out []*image
	for rows.Next() {
		img := new(image)
		var ignore any
		dest := make([]any, len(names))
		for i, n := range names {
			switch n {
			case "id":
				dest[i] = &img.ID
			case "collection_id":
				dest[i] = &img.CollectionID
			case "title":
				dest[i] = &img.Title
			case "alt":
				dest[i] = &img.Alt
			case "filename":
				dest[i] = &img.Filename
			case "storage_key":
				dest[i] = &img.StorageKey
			case "content_type":
				dest[i] = &img.ContentType
			case "size":
				dest[i] = &img.Size
			case "sha256":
				dest[i] = &img.SHA256
			case "width":
				dest[i] = &img.Width
			case "height":
				dest[i] = &img.Height
			case "focal_x":
				dest[i] = &img.FocalX
			case "focal_y":
				dest[i] = &img.FocalY
			case "focal_width":
				dest[i] = &img.FocalWidth
			case "focal_height":
				dest[i] = &img.FocalHeight
			case "privacy":
				dest[i] = &img.Privacy
			case "created_at":
				dest[i] = &img.CreatedAt
			case "updated_at":
				dest[i] = &img.UpdatedAt
			default:
				dest[i] = &ignore
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, false, err
		}
		img.CreatedAt, img.UpdatedAt = img.CreatedAt.UTC(), img.UpdatedAt.UTC()
		out = append(out, img)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > pageSize {
		return out[:pageSize], true, nil
	}
	return out, false, nil
}

// query runs text with args: on Postgres as a prepared statement, kept per text.
func (b *baseline) query(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	if b.bunDB.Dialect != models.Postgres {
		return b.db.QueryContext(ctx, text, args...)
	}
	if st, ok := b.stmts.Load(text); ok {
		return st.(*sql.Stmt).QueryContext(ctx, args...)
	}
	st, err := b.db.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	if prev, loaded := b.stmts.LoadOrStore(text, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryContext(ctx, args...)
}

func args(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func (b *baseline) tags(ctx context.Context, ids []string) (map[string][]string, error) {
	rows, err := b.query(ctx, b.sqlFor("tags", len(ids)), args(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string][]string, len(ids))
	for rows.Next() {
		var id, tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return nil, err
		}
		out[id] = append(out[id], tag)
	}
	return out, rows.Err()
}

func (b *baseline) collections(ctx context.Context, ids []string) (map[string]*collection, error) {
	rows, err := b.query(ctx, b.sqlFor("collections", len(ids)), args(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*collection, len(ids))
	for rows.Next() {
		c := new(collection)
		dest := make([]any, len(names))
		for i, n := range names {
			var ignore any
			switch n {
			case "id":
				dest[i] = &c.ID
			case "name":
				dest[i] = &c.Name
			default:
				dest[i] = &ignore
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
}
