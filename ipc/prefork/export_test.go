package prefork

// SetHangAfterLock makes the first worker of this process's server that
// takes the accept lock write its pid to path and hang holding the lock (see
// hangAfterLock). Only the package's tests can call it, in a worker role.
func SetHangAfterLock(path string) { hangAfterLock = path }
