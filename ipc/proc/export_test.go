package proc

// ChildEnvForTest builds the marker Command puts in a child's environment,
// so a test can start a child by hand that claims another parent.
func ChildEnvForTest(ppid, lifeFD int, role string) string {
	return formatChildEnv(ppid, lifeFD, false, role)
}

// OutlivingChildEnvForTest is the marker of a child started with
// NoPdeathsig.
func OutlivingChildEnvForTest(ppid, lifeFD int, role string) string {
	return formatChildEnv(ppid, lifeFD, true, role)
}
