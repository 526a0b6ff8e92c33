package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
)

// WebhookStore keeps the webhook endpoints, the webhooks the other stores
// record (the table webhooks, written in the transactions of the changes they
// report) and their deliveries, one per endpoint.
//
// It also tells those stores whether to record webhooks at all
// (Recording): with no endpoint enabled, the hot paths run exactly the
// statements they run without webhooks.
type WebhookStore struct {
	pool *pgxpool.Pool

	// enabled is whether some endpoint was enabled at checkedAt (unix
	// nanoseconds); checking is set while a check runs.
	enabled   atomic.Bool
	checkedAt atomic.Int64
	checking  atomic.Bool
}

var (
	_ notify.EndpointStore = (*WebhookStore)(nil)
	_ notify.DeliveryStore = (*WebhookStore)(nil)
)

// NewWebhookStore returns a store on pool.
func NewWebhookStore(pool *pgxpool.Pool) *WebhookStore {
	return &WebhookStore{pool: pool}
}

// recordingTTL is how old the answer of Recording may be: an endpoint
// enabled through another replica receives the changes that replica's
// peers make from at most this long after. A change made through this
// process counts at once.
const recordingTTL = 2 * time.Second

// Recording reports whether some endpoint is enabled, as last checked. It
// never waits for the database (it runs inside the hot paths'
// transactions): an answer older than recordingTTL starts a check in the
// background and is used meanwhile.
func (s *WebhookStore) Recording() bool {
	if time.Now().UnixNano()-s.checkedAt.Load() > int64(recordingTTL) && s.checking.CompareAndSwap(false, true) {
		go func() {
			defer s.checking.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = s.CheckRecording(ctx) // a failed check is tried again on the next call
		}()
	}
	return s.enabled.Load()
}

// CheckRecording reads whether some endpoint is enabled. Every change to
// endpoints made through this store calls it.
func (s *WebhookStore) CheckRecording(ctx context.Context) (err error) {
	defer wrap(&err, "check webhook endpoints")
	var on bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)`).Scan(&on); err != nil {
		return err
	}
	s.enabled.Store(on)
	s.checkedAt.Store(time.Now().UnixNano())
	return nil
}

// changed re-reads Recording after a change to endpoints. The change is
// committed whatever happens here; a failure only leaves the answer to
// the next background check.
func (s *WebhookStore) changed(ctx context.Context) {
	_ = s.CheckRecording(context.WithoutCancel(ctx))
}

const endpointColumns = `id, url, description, types, enabled, bootstrap, secret, previous_secret, previous_expires_at,
    created_at, updated_at`

func scanEndpoint(row pgx.Row) (notify.Endpoint, error) {
	var (
		e              notify.Endpoint
		secret         string
		previousSecret *string
	)
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.Types, &e.Enabled, &e.Bootstrap, &secret, &previousSecret,
		&e.PreviousExpiresAt, &e.CreatedAt, &e.UpdatedAt)
	e.Secret = notify.Secret(secret)
	if previousSecret != nil {
		e.PreviousSecret = notify.Secret(*previousSecret)
	}
	return e, err
}

// CreateEndpoint stores a new endpoint, unless there are
// notify.MaxEndpoints already.
func (s *WebhookStore) CreateEndpoint(ctx context.Context, e notify.Endpoint) (err error) {
	defer wrap(&err, "create webhook endpoint")
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_endpoints
		(id, url, description, types, enabled, bootstrap, secret, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, false, $6, $7, $7
		WHERE (SELECT count(*) FROM webhook_endpoints) < $8`,
		e.ID, e.URL, e.Description, e.Types, e.Enabled, e.Secret.Reveal(), e.CreatedAt, notify.MaxEndpoints)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.Conflict, "There are %d webhook endpoints already, the most there can be; delete one first.",
			notify.MaxEndpoints)
	}
	s.changed(ctx)
	return nil
}

// Endpoint returns one endpoint.
func (s *WebhookStore) Endpoint(ctx context.Context, id uuid.UUID) (_ notify.Endpoint, err error) {
	defer wrap(&err, "webhook endpoint %s", id)
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id))
	if err != nil {
		return notify.Endpoint{}, missing(err, "webhook endpoint")
	}
	return e, nil
}

// Endpoints lists endpoints in id (creation) order after the given id.
func (s *WebhookStore) Endpoints(ctx context.Context, after uuid.UUID, limit int) (_ []notify.Endpoint, err error) {
	defer wrap(&err, "list webhook endpoints")
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	return collect(rows, err, scanEndpoint)
}

// endDeliveriesSQL fails the pending deliveries of the endpoints that a
// statement's change (a CTE named ep with the columns id and enabled)
// left disabled; at is the parameter holding the time.
func endDeliveriesSQL(at string) string {
	return `UPDATE webhook_deliveries d SET status = 'failed', last_error = 'endpoint disabled', updated_at = ` + at + `
    FROM ep WHERE d.endpoint_id = ep.id AND NOT ep.enabled AND d.status = 'pending'`
}

// UpdateEndpoint applies p; disabling the endpoint fails its pending
// deliveries in the same statement.
func (s *WebhookStore) UpdateEndpoint(ctx context.Context, id uuid.UUID, p notify.EndpointPatch, now time.Time) (_ notify.Endpoint, err error) {
	defer wrap(&err, "update webhook endpoint %s", id)
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `WITH ep AS (
		UPDATE webhook_endpoints SET url = coalesce($3, url), description = coalesce($4, description),
		    types = coalesce($5, types), enabled = coalesce($6, enabled), updated_at = $2
		WHERE id = $1
		RETURNING `+endpointColumns+`
	), ended AS (`+endDeliveriesSQL("$2")+`)
	SELECT `+endpointColumns+` FROM ep`, id, now, p.URL, p.Description, p.Types, p.Enabled))
	if err != nil {
		return notify.Endpoint{}, missing(err, "webhook endpoint")
	}
	s.changed(ctx)
	return e, nil
}

// DeleteEndpoint fails the endpoint's pending deliveries and deletes it;
// its deliveries lose their endpoint_id (ON DELETE SET NULL).
func (s *WebhookStore) DeleteEndpoint(ctx context.Context, id uuid.UUID, now time.Time) (err error) {
	defer wrap(&err, "delete webhook endpoint %s", id)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', updated_at = $2
			WHERE endpoint_id = $1 AND status = 'pending'`, id, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			return apperr.New(apperr.NotFound, "No such webhook endpoint.")
		}
		return err
	})
	if err != nil {
		return err
	}
	s.changed(ctx)
	return nil
}

// RotateSecret replaces the endpoint's secret, keeping the former one as
// the previous key until previousUntil when that is after now.
func (s *WebhookStore) RotateSecret(ctx context.Context, id uuid.UUID, secret notify.Secret, previousUntil, now time.Time) (_ notify.Endpoint, err error) {
	defer wrap(&err, "rotate secret of webhook endpoint %s", id)
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
		    previous_secret = CASE WHEN $3::timestamptz > $4 THEN secret END,
		    previous_expires_at = CASE WHEN $3::timestamptz > $4 THEN $3::timestamptz END,
		    secret = $2, updated_at = $4
		WHERE id = $1
		RETURNING `+endpointColumns, id, secret.Reveal(), previousUntil, now))
	if err != nil {
		return notify.Endpoint{}, missing(err, "webhook endpoint")
	}
	return e, nil
}

// UpsertBootstrap creates the bootstrap endpoint, or brings it in line
// with e (touching nothing when it already is). Replicas starting
// together with the same environment change it at most once.
func (s *WebhookStore) UpsertBootstrap(ctx context.Context, e notify.Endpoint, previousUntil time.Time) (_ notify.Endpoint, err error) {
	defer wrap(&err, "set up the webhook endpoint of EVENTLY_WEBHOOK_URL")
	got, err := scanEndpoint(s.pool.QueryRow(ctx, `INSERT INTO webhook_endpoints AS w
		    (id, url, description, types, enabled, bootstrap, secret, created_at, updated_at)
		VALUES ($1, $2, $3, $4, true, true, $5, $6, $6)
		ON CONFLICT (bootstrap) WHERE bootstrap DO UPDATE SET
		    url = EXCLUDED.url, description = EXCLUDED.description, types = EXCLUDED.types, enabled = true,
		    previous_secret = CASE WHEN w.secret <> EXCLUDED.secret THEN w.secret ELSE w.previous_secret END,
		    previous_expires_at = CASE WHEN w.secret <> EXCLUDED.secret THEN $7 ELSE w.previous_expires_at END,
		    secret = EXCLUDED.secret, updated_at = EXCLUDED.updated_at
		WHERE (w.url, w.description, w.types, w.enabled, w.secret)
		    IS DISTINCT FROM (EXCLUDED.url, EXCLUDED.description, EXCLUDED.types, true, EXCLUDED.secret)
		RETURNING `+endpointColumns,
		e.ID, e.URL, e.Description, e.Types, e.Secret.Reveal(), e.CreatedAt, previousUntil))
	if isNoRows(err) { // already as it should be
		got, err = scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE bootstrap`))
	}
	if err != nil {
		return notify.Endpoint{}, err
	}
	s.changed(ctx)
	return got, nil
}

// DisableBootstrap disables the bootstrap endpoint and fails its pending
// deliveries.
func (s *WebhookStore) DisableBootstrap(ctx context.Context, now time.Time) (err error) {
	defer wrap(&err, "disable the webhook endpoint of EVENTLY_WEBHOOK_URL")
	_, err = s.pool.Exec(ctx, `WITH ep AS (
		UPDATE webhook_endpoints SET enabled = false, updated_at = $1 WHERE bootstrap AND enabled
		RETURNING id, enabled
	) `+endDeliveriesSQL("$1"), now)
	if err != nil {
		return err
	}
	s.changed(ctx)
	return nil
}

// deliverySelect reads deliveries d with their webhooks w.
const deliverySelect = `SELECT d.id, d.webhook_id, d.endpoint_id, d.redelivery_of, w.type, w.subject_id, w.body,
    d.status, d.attempts, d.last_error, d.created_at, d.updated_at, d.delivered_at
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id`

func scanDelivery(row pgx.Row, more ...any) (notify.Delivery, error) {
	var (
		d    notify.Delivery
		body string
	)
	err := row.Scan(append([]any{&d.ID, &d.WebhookID, &d.EndpointID, &d.RedeliveryOf, &d.Type, &d.SubjectID, &body,
		&d.Status, &d.Attempts, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt}, more...)...)
	d.Body = []byte(body)
	return d, err
}

// Delivery returns a delivery, its webhook and its endpoint, in one query.
func (s *WebhookStore) Delivery(ctx context.Context, id uuid.UUID) (_ notify.Delivery, _ *notify.Endpoint, err error) {
	defer wrap(&err, "webhook delivery %s", id)
	var (
		epID           *uuid.UUID
		url, secret    *string
		enabled        *bool
		previousSecret *string
		previousUntil  *time.Time
	)
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT d.id, d.webhook_id, d.endpoint_id, d.redelivery_of, w.type,
		    w.subject_id, w.body, d.status, d.attempts, d.last_error, d.created_at, d.updated_at, d.delivered_at,
		    ep.id, ep.url, ep.enabled, ep.secret, ep.previous_secret, ep.previous_expires_at
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		LEFT JOIN webhook_endpoints ep ON ep.id = d.endpoint_id
		WHERE d.id = $1`, id), &epID, &url, &enabled, &secret, &previousSecret, &previousUntil)
	if err != nil {
		return notify.Delivery{}, nil, missing(err, "webhook delivery")
	}
	if epID == nil {
		return d, nil, nil
	}
	ep := &notify.Endpoint{ID: *epID, URL: *url, Enabled: *enabled, Secret: notify.Secret(*secret),
		PreviousExpiresAt: previousUntil}
	if previousSecret != nil {
		ep.PreviousSecret = notify.Secret(*previousSecret)
	}
	return d, ep, nil
}

// RecordAttempt counts an attempt on a pending delivery and records its
// outcome.
func (s *WebhookStore) RecordAttempt(ctx context.Context, id uuid.UUID, a notify.Attempt) (err error) {
	defer wrap(&err, "record attempt on webhook delivery %s", id)
	var lastError *string
	if a.Error != "" {
		lastError = &a.Error
	}
	_, err = s.pool.Exec(ctx, `
		UPDATE webhook_deliveries SET
		    attempts = attempts + CASE WHEN $6 THEN 0 ELSE 1 END,
		    status = CASE WHEN $2 THEN 'delivered' WHEN $3 OR $6 THEN 'failed' ELSE 'pending' END,
		    last_error = $4,
		    delivered_at = CASE WHEN $2 THEN $5::timestamptz END,
		    updated_at = $5
		WHERE id = $1 AND status = 'pending'`, id, a.OK, a.Final, lastError, a.At, a.Skipped)
	if err != nil {
		return err
	}
	return nil
}

// Deliveries lists deliveries newest first, through the index that fits
// the filter: (created_at, id), (status, created_at, id) or (endpoint_id,
// created_at, id).
func (s *WebhookStore) Deliveries(ctx context.Context, f notify.DeliveryFilter) (_ []notify.Delivery, err error) {
	defer wrap(&err, "list webhook deliveries")
	var (
		where conditions
		args  queryArgs
	)
	arg := args.add
	if f.Status != nil {
		where.add("d.status = " + arg(string(*f.Status)))
	}
	if f.EndpointID != nil {
		where.add("d.endpoint_id = " + arg(*f.EndpointID))
	}
	if f.After != nil {
		where.add("(d.created_at, d.id) < (" + arg(f.After.CreatedAt) + "::timestamptz, " + arg(f.After.ID) + "::uuid)")
	}
	query := deliverySelect
	query += where.sql()
	query += " ORDER BY d.created_at DESC, d.id DESC LIMIT " + arg(f.Limit)
	rows, err := s.pool.Query(ctx, query, args...)
	return collect(rows, err, func(r pgx.Row) (notify.Delivery, error) { return scanDelivery(r) })
}

// fanOutSQL marks the webhooks $1 not fanned out yet as fanned out at $2
// (locking them in id order, so that two fan-outs of overlapping sets
// cannot deadlock, and skipping those another fan-out marked meanwhile),
// makes their deliveries, one per enabled endpoint subscribed to the
// type, and returns those and the pending deliveries of $1 that have had
// no attempt yet.
const fanOutSQL = `WITH locked AS (
    SELECT id FROM webhooks WHERE id = ANY($1::uuid[]) AND dispatched_at IS NULL ORDER BY id FOR UPDATE
), ev AS (
    UPDATE webhooks e SET dispatched_at = $2 FROM locked WHERE e.id = locked.id
    RETURNING e.id, e.type
), made AS (
    INSERT INTO webhook_deliveries (id, webhook_id, endpoint_id, created_at, updated_at)
    SELECT gen_uuid_v7(), ev.id, ep.id, $2, $2
    FROM ev JOIN webhook_endpoints ep ON ep.enabled AND ep.types && ARRAY[ev.type, '*']
    ORDER BY ev.id, ep.id
    ON CONFLICT (webhook_id, endpoint_id) WHERE redelivery_of IS NULL DO NOTHING
    RETURNING id
)
SELECT id FROM made
UNION ALL
SELECT id FROM webhook_deliveries
WHERE webhook_id = ANY($1::uuid[]) AND redelivery_of IS NULL AND status = 'pending' AND attempts = 0`

// FanOut makes the deliveries of the webhooks ids, in one statement.
func (s *WebhookStore) FanOut(ctx context.Context, ids []uuid.UUID, now time.Time) (_ []uuid.UUID, err error) {
	defer wrap(&err, "fan out webhooks")
	out, err := collectIDs(s.pool.Query(ctx, fanOutSQL, ids, now))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Redeliver makes a new pending delivery of the webhook of delivery id to
// its endpoint.
func (s *WebhookStore) Redeliver(ctx context.Context, id uuid.UUID, now time.Time) (_ notify.Delivery, err error) {
	defer wrap(&err, "redeliver webhook delivery %s", id)
	_, ep, err := s.Delivery(ctx, id)
	if err != nil {
		return notify.Delivery{}, err
	}
	switch {
	case ep == nil:
		return notify.Delivery{}, apperr.New(apperr.Conflict, "The endpoint of this delivery was deleted.")
	case !ep.Enabled:
		return notify.Delivery{}, apperr.New(apperr.Conflict, "The endpoint of this delivery is disabled; enable it first.")
	}
	newID := uuid.Must(uuid.NewV7())
	_, err = s.pool.Exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, endpoint_id, redelivery_of, created_at, updated_at)
		SELECT $2, webhook_id, endpoint_id, id, $3, $3 FROM webhook_deliveries WHERE id = $1`, id, newID, now)
	if err != nil {
		return notify.Delivery{}, err
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, deliverySelect+` WHERE d.id = $1`, newID))
	if err != nil {
		return notify.Delivery{}, err
	}
	return d, nil
}

// Stalled returns pending deliveries that have had no attempt since
// before fresh, or whose last attempt was before retried (later than the
// longest wait between two attempts), oldest first, through the partial
// index on pending deliveries.
func (s *WebhookStore) Stalled(ctx context.Context, fresh, retried time.Time, limit int) (_ []uuid.UUID, err error) {
	defer wrap(&err, "stalled webhook deliveries")
	ids, err := collectIDs(s.pool.Query(ctx, `SELECT id FROM webhook_deliveries
		WHERE status = 'pending' AND updated_at < $1 AND (attempts = 0 OR updated_at < $2)
		ORDER BY updated_at LIMIT $3`, fresh, retried, limit))
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Unsent returns webhooks recorded before the given time that were never
// fanned out, oldest first, through their partial index.
func (s *WebhookStore) Unsent(ctx context.Context, before time.Time, limit int) (_ []uuid.UUID, err error) {
	defer wrap(&err, "unsent webhooks")
	ids, err := collectIDs(s.pool.Query(ctx, `SELECT id FROM webhooks
		WHERE dispatched_at IS NULL AND created_at < $1 ORDER BY created_at LIMIT $2`, before, limit))
	if err != nil {
		return nil, err
	}
	return ids, nil
}
