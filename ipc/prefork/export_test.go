package prefork

import "time"

// SetHangAfterLock makes the first worker of this process's server that
// takes the accept lock write its pid to path and hang holding the lock (see
// hangAfterLock). Only the package's tests can call it, in a worker role.
func SetHangAfterLock(path string) { hangAfterLock = path }

// SetHoldBusy sets holdBusy, how late a turn may come and still find the
// lock kept (AcceptHold), for the tests that check that the lock is kept
// whatever the load of the machine that runs them.
func SetHoldBusy(d time.Duration) { holdBusy = d }
