//go:build !unix

package main

// diagnose finds nothing outside Unix: the data dir's ownership and access checks use Unix
// owners and access(2).
func (dataInstance) diagnose() string { return "" }
