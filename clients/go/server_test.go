package leasehold_test

// The tests start the real server (`leasehold dev`) on a fresh database, the
// way the Python client's tests do. The PostgreSQL server is DATABASE_URL's,
// or else postgres://postgres@127.0.0.1:5432/postgres; the binary is
// LEASEHOLD_BIN, or else ../../target/debug/leasehold (cargo build first).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is the one `leasehold dev` every test of this package talks to.
var server struct {
	url         string
	key         string
	databaseURL string
}

func TestMain(m *testing.M) {
	os.Exit(runWithServer(m))
}

func runWithServer(m *testing.M) int {
	adminURL := os.Getenv("DATABASE_URL")
	if adminURL == "" {
		adminURL = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	database := fmt.Sprintf("lh_gotest_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := psql(adminURL, fmt.Sprintf(`CREATE DATABASE "%s"`, database)); err != nil {
		fmt.Fprintln(os.Stderr, "creating the test database:", err)
		return 1
	}
	defer psql(adminURL, fmt.Sprintf(`DROP DATABASE IF EXISTS "%s" WITH (FORCE)`, database))
	server.databaseURL = withDatabase(adminURL, database)

	stop, err := startServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	return m.Run()
}

// startServer runs `leasehold dev` on a free port with all LEASEHOLD_* removed
// from its environment, and waits for its client key and for /readyz.
func startServer() (stop func(), err error) {
	binary := os.Getenv("LEASEHOLD_BIN")
	if binary == "" {
		binary = filepath.Join("..", "..", "target", "debug", "leasehold")
	}
	if info, err := os.Stat(binary); err != nil || info.IsDir() {
		return nil, fmt.Errorf("no leasehold binary at %s: run `cargo build` first (or set LEASEHOLD_BIN)", binary)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "dev", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = append(environWithout("LEASEHOLD_"), "DATABASE_URL="+server.databaseURL)
	output, writer := io.Pipe()
	cmd.Stdout, cmd.Stderr = writer, writer
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); writer.Close(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	log := &lockedBuffer{}
	key := make(chan string, 1)
	go scanForKey(output, log, key)
	select {
	case server.key = <-key:
	case <-exited:
		return nil, fmt.Errorf("leasehold dev exited:\n%s", log)
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("leasehold dev printed no client key within 60 s:\n%s", log)
	}
	server.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitForReady(server.url, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%v:\n%s", err, log)
	}
	return stop, nil
}

var clientKey = regexp.MustCompile(`client key: (\S+)`)

// scanForKey reads the server's output to its end (so it never blocks on a
// full pipe), keeping it for error messages, and sends the client key once.
func scanForKey(output io.Reader, log *lockedBuffer, key chan<- string) {
	scanner := bufio.NewScanner(output)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	found := false
	for scanner.Scan() {
		line := scanner.Text()
		log.WriteLine(line)
		if match := clientKey.FindStringSubmatch(line); match != nil && !found {
			found = true
			key <- match[1]
		}
	}
	_, _ = io.Copy(io.Discard, output)
}

func waitForReady(url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	probe := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if resp, err := probe.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("leasehold dev exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server did not become ready within 30 s")
}

// sql runs a statement on the server's database (to make a lease lapse, say)
// and returns its output.
func sql(t *testing.T, statement string) string {
	t.Helper()
	out, err := psql(server.databaseURL, statement)
	if err != nil {
		t.Fatalf("psql %q: %v", statement, err)
	}
	return out
}

func psql(databaseURL, statement string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(context.Background(), "psql", databaseURL, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", statement)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// withDatabase is url with its database (the path) replaced.
func withDatabase(url, database string) string {
	base, query, hasQuery := strings.Cut(url, "?")
	base = base[:strings.LastIndex(base, "/")] + "/" + database
	if hasQuery {
		return base + "?" + query
	}
	return base
}

func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line + "\n")
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
