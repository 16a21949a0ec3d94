#!/usr/bin/env bash
# Rebuilds this folder from the npm registry: the exact versions Veil embeds, checked against the
# same SHA-256 digests gqlgen's playground pins for its CDN copies. Run it to upgrade (change the
# versions and digests together), then commit the result.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent graphiql@4.1.2 react@18.2.0 react-dom@18.2.0 >/dev/null)
for p in graphiql-4.1.2 react-18.2.0 react-dom-18.2.0; do mkdir -p "$work/$p" && tar xzf "$work/$p.tgz" -C "$work/$p"; done
cp "$work"/graphiql-4.1.2/package/{graphiql.min.js,graphiql.min.css,LICENSE} graphiql-4.1.2/
cp "$work"/react-18.2.0/package/{umd/react.production.min.js,LICENSE} react-18.2.0/
cp "$work"/react-dom-18.2.0/package/{umd/react-dom.production.min.js,LICENSE} react-dom-18.2.0/
sha256sum -c <<'SUMS'
867226ba8af5ce7949903fc53932f78dac9f4bfc6cc8da0fd3869b8bc6c5256b  graphiql-4.1.2/graphiql.min.js
30487e07635d312a63f647b140d37740a73c53332b0975bf4b1fe985ca6ec885  graphiql-4.1.2/graphiql.min.css
4b4969fa4ef3594324da2c6d78ce8766fbbc2fd121fff395aedf997db0a99a06  react-18.2.0/react.production.min.js
21758ed084cd0e37e735722ee4f3957ea960628a29dfa6c3ce1a1d47a2d6e4f7  react-dom-18.2.0/react-dom.production.min.js
SUMS
