// Package upload implements the GraphQL multipart request spec
// (https://github.com/jaydenseric/graphql-multipart-request-spec) as a gqlgen transport that
// streams: a file part is handed to the resolver as a live reader of the request body, so a 1 GiB
// upload flows to storage without being buffered in memory or spooled to disk. Only a file that
// the operation reads out of request order is spooled to a temporary file.
package upload
