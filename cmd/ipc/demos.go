package main

import "github.com/ipctoolkit/ipc/internal/demo"

// The demos live in internal/demo; their child roles register there too.
func init() { register(demo.Commands()...) }
