// Command ferretdb-local runs FerretDB v1 (a MongoDB wire-protocol server) through its embeddable
// package, for local runs and tests of tis-workflows. Production uses MongoDB instead.
//
// FerretDB's own command cannot be built outside FerretDB's repository (it panics at start without
// build/version/version.txt, and `go install` of it is refused by the module proxy), so this small
// program is how the pinned version gets onto a machine: its go.mod pins FerretDB, go.sum pins the rest.
//
// It prints one line "ready <mongodb URI>" on stdout once it accepts connections (so a caller may ask
// for port 0 and learn the port), and stops on SIGINT or SIGTERM, or when the process that started it
// exits (-parent-pid), so a crashed test run leaves no server behind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/jackc/pgx/v5"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free one)")
	handler := flag.String("handler", "postgresql", "storage backend: postgresql or sqlite")
	postgresURL := flag.String("postgresql-url", "postgres://postgres@127.0.0.1:5432/tisw_local", "PostgreSQL database for the postgresql backend; created if missing")
	sqliteURL := flag.String("sqlite-url", "", "SQLite directory URI for the sqlite backend, e.g. file:/var/lib/tisw/sqlite/")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	parentPID := flag.Int("parent-pid", 0, "exit when this process is gone (0: never)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fail("bad -log-level %q: %v", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *parentPID > 0 {
		ctx = exitWithParent(ctx, *parentPID)
	}

	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  *handler,
	}
	switch *handler {
	case "postgresql":
		if err := ensureDatabase(ctx, *postgresURL); err != nil {
			fail("PostgreSQL at %s: %v", redact(*postgresURL), err)
		}
		cfg.PostgreSQLURL = *postgresURL
	case "sqlite":
		if *sqliteURL == "" {
			fail("-sqlite-url is required with -handler sqlite")
		}
		cfg.SQLiteURL = *sqliteURL
	default:
		fail("-handler must be postgresql or sqlite, not %q", *handler)
	}

	f, err := ferretdb.New(cfg)
	if err != nil {
		fail("%v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	// MongoDBURI waits until the listener is bound, so the port is known from here on.
	fmt.Printf("ready %s\n", f.MongoDBURI())
	<-done
}

// ensureDatabase creates the PostgreSQL database named in url when it does not exist yet, connecting
// to the server's "postgres" database to do so: FerretDB keeps each MongoDB database as a schema
// inside it, but does not create the database itself.
func ensureDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("bad URL: %w", err)
	}
	name := cfg.Database
	if name == "" {
		return errors.New("the URL names no database")
	}
	cfg.Database = "postgres"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && pgErr.SQLState() == "42P04" { // created meanwhile by another process
		return nil
	}
	return err
}

// exitWithParent returns a context cancelled when process pid no longer exists.
func exitWithParent(ctx context.Context, pid int) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if syscall.Kill(pid, 0) == syscall.ESRCH {
					cancel()
					return
				}
			}
		}
	}()
	return ctx
}

// redact drops a password from a connection URL before it is printed.
func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil || cfg.Password == "" {
		return url
	}
	return fmt.Sprintf("postgres://%s:***@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferretdb-local: "+format+"\n", args...)
	os.Exit(1)
}
