// Package testenv finds the Postgres and Redis servers that tests run
// against: EVENTLY_TEST_DATABASE_URL and EVENTLY_TEST_REDIS_URL when set
// (make test sets them to the local services when those answer), otherwise
// containers started with testcontainers-go where a Docker engine works.
// With neither, tests fail with a message saying what to do; they never
// skip silently.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const help = `no test services: set EVENTLY_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
and EVENTLY_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379), start local Postgres and Redis and run 'make test',
or run a Docker engine so that testcontainers-go can start them`

type service struct {
	once sync.Once
	url  string
	err  error
}

// The resolved services are shared by every test of one test binary: the
// containers, when used, start once per package.
var (
	postgresSvc service
	redisSvc    service
)

// PostgresURL returns a connection string for a superuser on a test server.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return resolve(t, &postgresSvc, "EVENTLY_TEST_DATABASE_URL", startPostgres)
}

// RedisCluster reports whether tests run on a Redis Cluster
// (EVENTLY_TEST_REDIS_CLUSTER=true, as make test sets for its cluster
// pass): redistest then starts clusters instead of leasing database
// indexes of RedisURL's server.
func RedisCluster() bool {
	v, _ := strconv.ParseBool(os.Getenv("EVENTLY_TEST_REDIS_CLUSTER"))
	return v
}

// RedisURL returns the URL of a test Redis server.
func RedisURL(t testing.TB) string {
	t.Helper()
	return resolve(t, &redisSvc, "EVENTLY_TEST_REDIS_URL", startRedis)
}

func resolve(t testing.TB, s *service, env string, start func(context.Context) (string, error)) string {
	t.Helper()
	s.once.Do(func() {
		if v := os.Getenv(env); v != "" {
			s.url = v
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		s.url, s.err = start(ctx)
	})
	if s.err != nil {
		t.Fatalf("%s\n(%s is unset and starting a container failed: %v)", help, env, s.err)
	}
	return s.url
}

func startPostgres(ctx context.Context) (string, error) {
	addr, err := startContainer(ctx, testcontainers.ContainerRequest{
		Image: "postgres:16-alpine",
		Env:   map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"},
		Cmd:   []string{"postgres", "-c", "fsync=off", "-c", "max_connections=300"},
	}, "5432/tcp")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr), nil
}

func startRedis(ctx context.Context) (string, error) {
	addr, err := startContainer(ctx, testcontainers.ContainerRequest{Image: "valkey/valkey:8-alpine"}, "6379/tcp")
	if err != nil {
		return "", err
	}
	return "redis://" + addr, nil
}

// startContainer starts req with port exposed, waits until it listens
// there, and returns the host:port it is reachable at.
func startContainer(ctx context.Context, req testcontainers.ContainerRequest, port string) (addr string, err error) {
	defer recoverDocker(&err)
	req.ExposedPorts = []string{port}
	req.WaitingFor = wait.ForListeningPort(port).WithStartupTimeout(time.Minute)
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		return "", err
	}
	host, err := c.Host(ctx)
	if err != nil {
		return "", err
	}
	mapped, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, mapped.Port()), nil
}

// recoverDocker turns testcontainers' panic on a missing Docker engine into
// an error.
func recoverDocker(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("docker: %v", r)
	}
}
