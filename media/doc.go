// Package media is Veil's domain: uploading, reading, listing, updating and deleting images,
// documents and collections, and deciding who may read what. Every rule lives here once; GraphQL
// resolvers and HTTP serve views call it and translate its errors.
package media
