// Package events owns Veil's event stream: what an Event is, the transactional outbox every change
// writes its events to (the events table, in the change's own transaction), the relay that
// delivers them from the table to the bus in cursor order, the Bus that fans them out to this
// instance's subscribers and carries them to other instances (NATS), the resumable subscriptions
// that replay the table from a cursor before going live, retention (Prune), the audit log (Audit)
// and webhooks (Webhooks). Who may read what is decided by the caller (package media): this
// package applies the filter it is given.
//
// The cursor of an event is the sequence number the relay gives it when it first delivers it.
// Only one relay in a cluster delivers at a time (it holds a lease in the event_relay table), so
// cursors grow in delivery order, whatever order the changes committed in. A crash between a
// change's commit and its delivery delays its events; a crash between delivery and recording it
// re-delivers them with the same cursor, which every bus and subscription drops as a duplicate.
package events
