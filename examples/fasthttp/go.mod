module github.com/ipctoolkit/ipc/examples/fasthttp

go 1.26.0

require (
	github.com/ipctoolkit/ipc v0.0.0
	github.com/valyala/fasthttp v1.78.0
)

require (
	github.com/coreos/go-systemd/v22 v22.7.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// The example is built against the ipc module it sits in.
replace github.com/ipctoolkit/ipc => ../..
