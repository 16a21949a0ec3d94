// Package auth owns identities (users, groups, API tokens, preview tokens) and the one permission
// policy: Viewer.Can answers "may this viewer do this to an item of this collection", and
// Viewer.ReadFilter produces the matching SQL condition for lists, so lists never load rows the
// viewer cannot see. Nothing else in Veil decides access.
package auth
