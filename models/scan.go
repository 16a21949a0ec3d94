package models

import (
	"context"
	"database/sql"
	"reflect"

	"github.com/uptrace/bun/schema"
)

// handScan returns the model that Select scans the rows of a query on model into, for the slices
// every list reads by the page (images, documents, their tags, their collections): a scan written
// by hand that sets each column from the value the driver returned, without the reflection bun
// spends on every column of every row (a fifth of the scan, the rest being the driver's). It
// returns nil for any other model, which bun scans.
//
// The result is what bun's scan gives: a value of a type other than the one the driver usually
// returns for the column is set by bun's own scanner of that field, and a query with a column
// the type does not have is scanned by bun altogether.
func handScan(model schema.Model) schema.Model {
	if model == nil {
		return nil
	}
	switch dest := model.Value().(type) {
	case *[]*Image:
		return &sliceScan[Image, *Image]{bun: model, cols: imageColumns, add: func(r *Image) { *dest = append(*dest, r) }, reset: func() { *dest = (*dest)[:0] }}
	case *[]*Document:
		return &sliceScan[Document, *Document]{bun: model, cols: mediaColumns, add: func(r *Document) { *dest = append(*dest, r) }, reset: func() { *dest = (*dest)[:0] }}
	case *[]*Collection:
		return &sliceScan[Collection, *Collection]{bun: model, cols: collectionColumns, add: func(r *Collection) { *dest = append(*dest, r) }, reset: func() { *dest = (*dest)[:0] }}
	case *[]MediaTag:
		return &sliceScan[MediaTag, *MediaTag]{bun: model, cols: mediaTagColumns, add: func(r *MediaTag) { *dest = append(*dest, *r) }, reset: func() { *dest = (*dest)[:0] }}
	}
	return nil
}

// sliceScan scans rows into new E's, each handed to add; bun is the model bun built for the
// query, whose table names the fields and which scans what sliceScan does not know.
type sliceScan[E any, P interface {
	*E
	// setColumn sets the column numbered col (in its type's columns map) to v, and reports
	// whether v was of the type it expects (else nothing is set).
	setColumn(col uint8, v any) bool
}] struct {
	bun   schema.Model
	cols  map[string]uint8
	add   func(P)
	reset func()
}

// Value is the query's model, as bun's Value is.
func (m *sliceScan[E, P]) Value() any { return m.bun.Value() }

// ScanRows scans every row, as bun's slice model does (the slice emptied first).
func (m *sliceScan[E, P]) ScanRows(ctx context.Context, rows *sql.Rows) (int, error) {
	names, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	tm, ok := m.bun.(interface{ Table() *schema.Table })
	if !ok {
		return m.bun.ScanRows(ctx, rows)
	}
	table := tm.Table()
	cols := make([]uint8, len(names))
	fields := make([]*schema.Field, len(names))
	for i, name := range names {
		col, ok := m.cols[name]
		f := table.LookupField(name)
		if !ok || f == nil {
			return m.bun.ScanRows(ctx, rows)
		}
		cols[i], fields[i] = col, f
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	m.reset()
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		row := P(new(E))
		for i, v := range vals {
			if !row.setColumn(cols[i], v) {
				if err := fields[i].ScanValue(reflect.ValueOf(row).Elem(), v); err != nil {
					return 0, err
				}
			}
		}
		m.add(row)
		n++
	}
	return n, rows.Err()
}

// The columns of MediaFields, then Image's own; the numbers are setColumn's.
const (
	colID uint8 = iota
	colCollectionID
	colTitle
	colFilename
	colStorageKey
	colContentType
	colSize
	colSHA256
	colUploadedBy
	colCreatedAt
	colUpdatedAt
	colPrivacy
	colPrivacyLastChanged
	colFilePermissionsLastSet
	colAlt
	colWidth
	colHeight
	colFocalX
	colFocalY
	colFocalWidth
	colFocalHeight
)

var (
	mediaColumns = map[string]uint8{
		"id": colID, "collection_id": colCollectionID, "title": colTitle, "filename": colFilename,
		"storage_key": colStorageKey, "content_type": colContentType, "size": colSize, "sha256": colSHA256,
		"uploaded_by": colUploadedBy, "created_at": colCreatedAt, "updated_at": colUpdatedAt,
		"privacy": colPrivacy, "privacy_last_changed": colPrivacyLastChanged,
		"file_permissions_last_set": colFilePermissionsLastSet,
	}
	imageColumns = func() map[string]uint8 {
		m := map[string]uint8{
			"alt": colAlt, "width": colWidth, "height": colHeight, "focal_x": colFocalX, "focal_y": colFocalY,
			"focal_width": colFocalWidth, "focal_height": colFocalHeight,
		}
		for k, v := range mediaColumns {
			m[k] = v
		}
		return m
	}()
	collectionColumns = map[string]uint8{"id": 0, "parent_id": 1, "name": 2, "path": 3, "created_at": 4}
	mediaTagColumns   = map[string]uint8{"media_id": 0, "tag": 1}
)

func (m *MediaFields) setColumn(col uint8, v any) bool {
	switch col {
	case colID:
		return set(&m.ID, v)
	case colCollectionID:
		return set(&m.CollectionID, v)
	case colTitle:
		return set(&m.Title, v)
	case colFilename:
		return set(&m.Filename, v)
	case colStorageKey:
		return set(&m.StorageKey, v)
	case colContentType:
		return set(&m.ContentType, v)
	case colSize:
		return set(&m.Size, v)
	case colSHA256:
		return set(&m.SHA256, v)
	case colUploadedBy:
		return setPtr(&m.UploadedBy, v)
	case colCreatedAt:
		return set(&m.CreatedAt, v)
	case colUpdatedAt:
		return set(&m.UpdatedAt, v)
	case colPrivacy:
		return set((*string)(&m.Privacy), v)
	case colPrivacyLastChanged:
		return set(&m.PrivacyLastChanged, v)
	case colFilePermissionsLastSet:
		return setPtr(&m.FilePermissionsLastSet, v)
	}
	return false
}

func (d *Document) setColumn(col uint8, v any) bool { return d.MediaFields.setColumn(col, v) }

func (i *Image) setColumn(col uint8, v any) bool {
	switch col {
	case colAlt:
		return set(&i.Alt, v)
	case colWidth:
		return setInt(&i.Width, v)
	case colHeight:
		return setInt(&i.Height, v)
	case colFocalX:
		return setIntPtr(&i.FocalX, v)
	case colFocalY:
		return setIntPtr(&i.FocalY, v)
	case colFocalWidth:
		return setIntPtr(&i.FocalWidth, v)
	case colFocalHeight:
		return setIntPtr(&i.FocalHeight, v)
	}
	return i.MediaFields.setColumn(col, v)
}

func (c *Collection) setColumn(col uint8, v any) bool {
	switch col {
	case 0:
		return set(&c.ID, v)
	case 1:
		return setPtr(&c.ParentID, v)
	case 2:
		return set(&c.Name, v)
	case 3:
		return set(&c.Path, v)
	case 4:
		return set(&c.CreatedAt, v)
	}
	return false
}

func (t *MediaTag) setColumn(col uint8, v any) bool {
	switch col {
	case 0:
		return set(&t.MediaID, v)
	case 1:
		return set(&t.Tag, v)
	}
	return false
}

// The setters take the types both drivers return for Veil's columns (text as string, integers
// as int64, timestamps as time.Time, NULL as nil) and leave anything else to bun. NULL into a
// field that is not a pointer is left to bun too.

// set stores v in *p when v is a T (string, int64, time.Time).
func set[T any](p *T, v any) bool {
	x, ok := v.(T)
	if ok {
		*p = x
	}
	return ok
}

// setPtr stores v in *p when v is a T, and nil for NULL.
func setPtr[T any](p **T, v any) bool {
	switch v := v.(type) {
	case nil:
		*p = nil
	case T:
		*p = &v
	default:
		return false
	}
	return true
}

// setInt and setIntPtr take the drivers' int64 into an int.
func setInt(p *int, v any) bool {
	n, ok := v.(int64)
	if ok {
		*p = int(n)
	}
	return ok
}

func setIntPtr(p **int, v any) bool {
	switch v := v.(type) {
	case nil:
		*p = nil
	case int64:
		n := int(v)
		*p = &n
	default:
		return false
	}
	return true
}
