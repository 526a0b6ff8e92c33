// Package app assembles one Evently process: configuration → pools →
// services → the HTTP API, the asynq worker and the cron scheduler, and owns
// their start and orderly shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/analytics"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/feed"
	"github.com/evently/evently/internal/funnel"
	"github.com/evently/evently/internal/httpapi"
	"github.com/evently/evently/internal/latency"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/telemetry"
	"github.com/evently/evently/internal/ticket"
	"github.com/evently/evently/internal/version"
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/waitroom"
	"github.com/evently/evently/internal/worker"
)

// accessTokenTTL is the lifetime of an access token; clients refresh.
const accessTokenTTL = 15 * time.Minute

// Options adjust an App beyond its Config.
type Options struct {
	// Listener, when set, is served instead of listening on cfg.Port.
	Listener net.Listener
	// WrapHandler, when set, wraps the API handler (for instrumentation).
	WrapHandler func(http.Handler) http.Handler
	// RevocationTTL is how long the process trusts its list of recent
	// token changes (0: account.DefaultRevocationTTL); tests shorten it.
	RevocationTTL time.Duration
	// StreamHeartbeat and StreamWriteTimeout tune the live streams (see
	// httpapi.Options); zero keeps the defaults.
	StreamHeartbeat    time.Duration
	StreamWriteTimeout time.Duration
	// Now is the clock every component reads (time.Now when nil): one
	// clock for holds, admissions, tokens, offers and webhooks.
	Now func() time.Time
	// WaitingRooms adjust the waiting rooms' Redis store (benchmarks turn
	// the funnel counting off with redis.WithoutFunnel).
	WaitingRooms []redis.RoomOption
}

// App is one running Evently process.
type App struct {
	cfg       config.Config
	logger    *slog.Logger
	pool      *pgxpool.Pool
	rdb       goredis.UniversalClient
	queue     *asynq.Client
	worker    *worker.Server
	scheduler *worker.Scheduler
	http      *http.Server
	api       *httpapi.Server
	listener  net.Listener
	// metrics serves /metrics on metricsListener; nil when /metrics is on
	// the API's listener (EVENTLY_METRICS_ADDR=api).
	metrics         *http.Server
	metricsListener net.Listener

	// notifier publishes the changes the live streams follow; hub fans
	// them out to this process's streams.
	notifier *feed.Notifier
	hub      *feed.Hub

	// holdTimes are the hold times self-tuning rooms follow, shared
	// between replicas through Redis; now is the process's clock.
	holdTimes holdTimes
	now       func() time.Time
}

// New connects to Postgres (creating the database and applying migrations
// as configured) and Redis, and builds every component. Nothing runs until
// Run.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (_ *App, err error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	a := &App{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			a.closePools()
		}
	}()

	if a.pool, err = postgres.OpenDatabase(ctx, cfg.DatabaseURL, cfg.AutoMigrate, logger); err != nil {
		return nil, err
	}
	if a.rdb, err = redis.Open(ctx, cfg.RedisURL, cfg.RedisCluster, logger); err != nil {
		return nil, err
	}
	a.queue = asynq.NewClientFromRedisClient(a.rdb)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		postgres.NewPoolCollector(a.pool),
		worker.NewQueueCollector(asynq.NewInspectorFromRedisClient(a.rdb)),
		telemetry.NewBuildInfo(version.Get()),
		telemetry.NewBacklogs(postgres.NewBacklogStore(a.pool)),
	)
	redisPing := func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }
	redisMode := telemetry.NewRedisMode(redisPing, locksPause)
	reg.MustRegister(redisMode)

	changes := redis.NewChanges(a.rdb)
	a.notifier = feed.NewNotifier(changes, logger)
	holds := latency.New(now)
	a.holdTimes, a.now = holdTimes{local: holds, shared: redis.NewHoldTimes(a.rdb)}, now
	roomStore := postgres.NewWaitingRoomStore(a.pool)
	rooms := waitroom.NewService(roomStore,
		liveQueue{redis.NewWaitingRooms(a.rdb, opts.WaitingRooms...), a.notifier.Changed},
		worker.NewAdmissions(a.queue), waitroom.Options{Now: now, PassSecret: cfg.JWTSecret,
			Stock: postgres.NewRoomStock(a.pool), Notices: postgres.NewRoomStock(a.pool),
			Latency: a.holdTimes, Rates: roomStore})
	reg.MustRegister(telemetry.NewWaitingRooms(rooms))
	out := newOutreach(a.pool, a.rdb, a.queue, logger, now, telemetry.NewWebhooks(reg))
	if err := out.bootstrap(ctx, cfg); err != nil {
		return nil, err
	}
	bookingStore := postgres.NewBookingStore(a.pool, out.record)
	eventStore := postgres.NewEventStore(a.pool, out.record)
	ticketStore := postgres.NewTicketStore(a.pool, out.record)
	signer, err := ticket.NewSigner(cfg.TicketSigningKey)
	if err != nil {
		return nil, err
	}
	var holdRate booking.HoldLimiter
	if cfg.HoldRatePerMinute > 0 {
		holdRate = redis.NewHoldRate(a.rdb, cfg.HoldRatePerMinute)
	}
	bookings := booking.NewService(liveBookings{bookingStore, a.notifier.Changed}, redis.NewSeatLocks(a.rdb), booking.Options{
		Now:       now,
		Rate:      holdRate,
		Admission: rooms,
		Observer:  booking.Observers{telemetry.NewBookings(reg), holdLatency{rec: holds}},
		Released:  out.offers,
		LocksDown: func(err error) {
			redisMode.Failed(err)
			logger.Warn("seat locks unavailable: holding seats on Postgres alone for a few seconds", "err", err)
		},
		LocksPause: locksPause,
	})
	idempotency := postgres.NewIdempotencyStore(a.pool)
	waitlists := waitlist.NewService(liveWaitlists{out.waitlists, a.notifier.Changed}, waitlist.Options{
		Now: now, OfferTTL: cfg.WaitlistOfferTTL, Bookings: bookings, Expiries: out.offers, Line: rooms})
	events := event.NewService(liveEvents{eventStore, a.notifier.Changed}, now,
		event.Options{HoldTTL: cfg.HoldTTL, Released: out.offers})
	a.hub = feed.NewHub(changes, feed.Options{Load: httpapi.AvailabilityLoader(events), Logger: logger})

	analyticsStore := postgres.NewAnalyticsStore(a.pool)
	a.worker = worker.NewServer(a.rdb, worker.ServerConfig{ShutdownTimeout: cfg.ShutdownTimeout}, logger)
	a.worker.Handle(worker.TypeAdmit, worker.AdmissionHandler(rooms))
	out.register(a.worker, waitlists, bookings)
	a.scheduler = worker.NewScheduler(a.queue, logger)
	if err := a.schedule(
		periodic{worker.TypeCleanup, worker.QueueCleanup, cfg.CleanupSchedule,
			cleanup{bookings: bookings, idempotency: idempotency, waitlists: waitlists, out: out, logger: logger}},
		periodic{worker.TypeRearm, worker.QueueWaitroom, cfg.CleanupSchedule, rearm{rooms: rooms, logger: logger}},
		periodic{worker.TypeAnalyticsFold, worker.QueueCleanup, analyticsFoldSchedule,
			analyticsFold{store: analyticsStore, now: now, logger: logger}},
	); err != nil {
		return nil, err
	}

	tokens := auth.NewTokens(cfg.JWTSecret, accessTokenTTL, now)
	users := postgres.NewUserStore(a.pool)
	accounts := account.NewService(users, tokens, account.Options{
		Now: now,
		Throttle: redis.NewLoginThrottle(a.rdb, account.DefaultThrottlePolicy, func(err error) {
			redisMode.Failed(err)
			logger.Warn("login throttle unavailable: failed logins are limited per address only", "err", err)
		}),
	})
	if err := bootstrapAdmin(ctx, accounts, cfg, logger); err != nil {
		return nil, err
	}

	apiServer, err := httpapi.New(httpapi.Options{
		Logger: logger,
		Checks: []httpapi.Check{
			{Name: "postgres", Ping: a.pool.Ping},
			{Name: "redis", Ping: redisMode.Watch(redisPing), Optional: true},
		},
		Registry:      reg,
		MetricsOnAPI:  cfg.MetricsAddr == "",
		Tokens:        tokens,
		Revocations:   account.NewRevocations(users, accessTokenTTL, opts.RevocationTTL, now),
		Spec:          api.Spec,
		CORSOrigins:   cfg.CORSOrigins,
		StorefrontURL: cfg.StorefrontURL,

		Accounts:          accounts,
		AuthRatePerMinute: cfg.AuthRatePerMinute,
		AuthRateLimiter:   redis.NewAuthRate(a.rdb, cfg.AuthRatePerMinute),
		TrustedIPHeader:   cfg.TrustedIPHeader,
		TrustedProxyHops:  cfg.TrustedProxyHops,
		TrustedProxyCIDRs: cfg.TrustedProxyCIDRs,
		Events:            events,
		Bookings:          bookings,
		Idempotency:       idempotency,
		WaitingRoom:       rooms,
		Waitlist:          waitlists,
		Notifications:     out.inbox,
		Webhooks:          out.deliveries,
		WebhookEndpoints:  out.endpoints,
		Analytics:         newAnalytics(analyticsStore),
		Funnel:            funnel.NewService(redis.NewFunnel(a.rdb), postgres.NewFunnelStore(a.pool), now),
		Tickets:           ticket.NewService(ticketStore, signer, now),

		Feed:               a.hub,
		StreamHeartbeat:    opts.StreamHeartbeat,
		StreamWriteTimeout: opts.StreamWriteTimeout,
	})
	if err != nil {
		return nil, err
	}
	a.api = apiServer
	handler := apiServer.Handler()
	if opts.WrapHandler != nil {
		handler = opts.WrapHandler(handler)
	}
	a.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	a.listener = opts.Listener
	if a.listener == nil {
		if a.listener, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return nil, fmt.Errorf("listen on PORT %d: %w", cfg.Port, err)
		}
	}
	if cfg.MetricsAddr != "" {
		if a.metricsListener, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = a.listener.Close()
			return nil, fmt.Errorf("listen on EVENTLY_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		a.metrics = &http.Server{
			Handler:           apiServer.MetricsHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}
	return a, nil
}

// locksPause is how long the booking engine holds seats without Redis
// after a Redis failure before it tries Redis again; Redis-degraded mode
// lasts at least as long.
const locksPause = 5 * time.Second

// analyticsCacheTTL is how long an analytics report is served from
// memory: admins polling a dashboard cost one computation per report per
// process every few seconds, and figures are never older than this.
const analyticsCacheTTL = 2 * time.Second

// newAnalytics builds the admin reports over the database. The waitlist
// count reads the waitlist_entries table once it exists (0 until then).
func newAnalytics(store *postgres.AnalyticsStore) *analytics.Service {
	return analytics.NewService(store, analytics.Options{Waitlist: store, CacheTTL: analyticsCacheTTL})
}

// Addr is the address the API listens on.
func (a *App) Addr() net.Addr { return a.listener.Addr() }

// MetricsAddr is the address /metrics is served on alone, or nil when it
// is served on the API's listener.
func (a *App) MetricsAddr() net.Addr {
	if a.metricsListener == nil {
		return nil
	}
	return a.metricsListener.Addr()
}

// Run starts the worker, the scheduler and the HTTP server, and blocks
// until ctx is cancelled or one of them fails. It then shuts down in order
// (HTTP → scheduler → worker → pools) within cfg.ShutdownTimeout and
// returns nil after a clean shutdown.
func (a *App) Run(ctx context.Context) error {
	if err := a.worker.Start(ctx); err != nil {
		a.closePools()
		return err
	}
	if err := a.scheduler.Start(ctx); err != nil {
		a.closePools()
		return err
	}
	// Neither can fail: they only start goroutines.
	_ = a.notifier.Start(ctx)
	_ = a.hub.Start(ctx)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		a.logger.Info("http server listening", "addr", a.listener.Addr().String())
		if err := a.http.Serve(a.listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	if a.metrics != nil {
		g.Go(func() error {
			a.logger.Info("metrics server listening", "addr", a.metricsListener.Addr().String())
			if err := a.metrics.Serve(a.metricsListener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		shareHoldTimes(gctx, a.holdTimes, a.now, a.logger)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		return a.shutdown()
	})
	return g.Wait()
}

func (a *App) shutdown() error {
	a.logger.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	a.api.BeginShutdown()
	// Open streams never finish on their own: end them first, so that the
	// HTTP server's shutdown finds their connections idle.
	a.hub.Close()
	if err := a.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if a.metrics != nil {
		if err := a.metrics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics server shutdown: %w", err))
		}
	}
	if err := a.scheduler.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.worker.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	// After the worker: its last tasks' changes are still announced.
	if err := a.notifier.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("live notifier shutdown: %w", err))
	}
	if err := a.hub.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("live hub shutdown: %w", err))
	}
	a.closePools()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.logger.Info("shutdown complete")
	return nil
}

func (a *App) closePools() {
	if a.queue != nil {
		_ = a.queue.Close()
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}
