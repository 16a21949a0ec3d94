// Package server assembles Veil's http.Handler: /graphql (POST, GET, streaming multipart uploads),
// the GraphiQL page at /, /media/… serve views, /healthz and /readyz, and the middleware around
// them (request id, recover, access log, body limits). It translates domain errors to GraphQL
// codes (one error presenter) and to HTTP statuses (one function).
package server
