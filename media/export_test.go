package media

// SetTestHook installs fn as the pause point of every step whose interleaving decides a file's
// permission (see testHooks); nil removes it.
func SetTestHook(s *Service, fn func(point, ids string)) {
	if fn == nil {
		s.hooks.p.Store(nil)
		return
	}
	s.hooks.p.Store(&testHooks{at: fn})
}
