package prefork_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
)

// http.ServeFile in a worker (which sends with sendfile) answers a whole
// file, a range of it and a HEAD on one kept-alive connection, each with
// the file's bytes and lengths, and the connection goes on serving.
func TestHTTPServeFile(t *testing.T) {
	before := ipctest.Snapshot()
	o := startOps(t, "http", nil)
	content := make([]byte, 3<<20+123)
	rand.Read(content)
	path := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	u := "http://" + o.addr + "/file?path=" + url.QueryEscape(path)
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ask := func(method, rangeHeader string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		if rangeHeader != "" {
			req.Header.Set("Range", rangeHeader)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, rangeHeader, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: the body: %v", method, rangeHeader, err)
		}
		return resp, b
	}

	resp, b := ask("GET", "")
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(content)) || !bytes.Equal(b, content) {
		t.Errorf("GET: %d, length %d, %d bytes (equal: %v); want 200 and the file's %d", resp.StatusCode, resp.ContentLength, len(b), bytes.Equal(b, content), len(content))
	}
	from, to := 1000, 1000+1<<20-1
	resp, b = ask("GET", fmt.Sprintf("bytes=%d-%d", from, to))
	if resp.StatusCode != 206 || !bytes.Equal(b, content[from:to+1]) {
		t.Errorf("GET of bytes %d-%d: %d, %d bytes (equal: %v)", from, to, resp.StatusCode, len(b), bytes.Equal(b, content[from:to+1]))
	}
	resp, b = ask("HEAD", "")
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(content)) || len(b) != 0 {
		t.Errorf("HEAD: %d, length %d, %d bytes of body", resp.StatusCode, resp.ContentLength, len(b))
	}
	if _, b = ask("GET", ""); !bytes.Equal(b, content) {
		t.Errorf("GET after the others: %d bytes (equal: false)", len(b))
	}

	o.closeLeavingNothing(t, before)
}
