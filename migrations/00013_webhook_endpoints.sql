-- +goose Up

-- Webhooks go to endpoints that admins manage (and to the endpoint of
-- EVENTLY_WEBHOOK_URL, set up at start-up). A change still records its
-- webhook once, with its exact body, in its own transaction: the former
-- webhook_deliveries becomes webhooks. After the commit each webhook
-- is fanned out to a delivery per enabled endpoint that receives its type
-- (the new webhook_deliveries), each with its own attempts.
ALTER TABLE webhook_deliveries RENAME TO webhooks;
ALTER INDEX webhook_deliveries_pkey RENAME TO webhooks_pkey;
ALTER TABLE webhooks RENAME CONSTRAINT webhook_deliveries_subject_id_type_key TO webhooks_subject_id_type_key;
DROP INDEX webhook_deliveries_status_idx;
-- dispatched_at: when the webhook was fanned out; NULL until then.
ALTER TABLE webhooks ADD COLUMN dispatched_at timestamptz;

-- webhook_endpoints: where webhooks go. secret signs every delivery (it
-- has to be kept as it is, to compute signatures); after a rotation,
-- previous_secret signs too until previous_expires_at. types lists the
-- webhook types received, '*' standing for every one. The bootstrap
-- endpoint (at most one) is the one of EVENTLY_WEBHOOK_URL.
CREATE TABLE webhook_endpoints (
    id                  uuid        PRIMARY KEY,
    url                 text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    types               text[]      NOT NULL CHECK (cardinality(types) > 0),
    enabled             boolean     NOT NULL DEFAULT true,
    bootstrap           boolean     NOT NULL DEFAULT false,
    secret              text        NOT NULL,
    previous_secret     text,
    previous_expires_at timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((previous_secret IS NULL) = (previous_expires_at IS NULL))
);
CREATE UNIQUE INDEX webhook_endpoints_bootstrap_idx ON webhook_endpoints (bootstrap) WHERE bootstrap;

-- webhook_deliveries: one webhook on its way to one endpoint, and its
-- attempts. A fan-out makes at most one delivery per webhook and endpoint;
-- an operator's redelivery makes another (redelivery_of names the one it
-- repeats). A deleted endpoint's deliveries stay, without it.
CREATE TABLE webhook_deliveries (
    id            uuid        PRIMARY KEY,
    webhook_id    uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    endpoint_id   uuid        REFERENCES webhook_endpoints (id) ON DELETE SET NULL,
    redelivery_of uuid        REFERENCES webhook_deliveries (id),
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    delivered_at  timestamptz
);
CREATE UNIQUE INDEX webhook_deliveries_fanout_idx ON webhook_deliveries (webhook_id, endpoint_id)
    WHERE redelivery_of IS NULL;
-- The operator's list: all, by status, by endpoint (which also serves
-- the endpoint's deletion and disabling).
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
-- The sweep of pending deliveries whose task was lost.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (updated_at) WHERE status = 'pending';

-- What was delivered, or failed, before endpoints existed keeps its record
-- (without an endpoint). Webhooks still pending are fanned out afresh by
-- the sweep to the endpoints there are (the one of EVENTLY_WEBHOOK_URL,
-- when it is still set), their attempts starting again.
INSERT INTO webhook_deliveries (id, webhook_id, endpoint_id, status, attempts, last_error, created_at, updated_at, delivered_at)
SELECT gen_uuid_v7(), id, NULL, status, attempts, last_error, created_at, updated_at, delivered_at
FROM webhooks WHERE status <> 'pending';
UPDATE webhooks SET dispatched_at = updated_at WHERE status <> 'pending';
ALTER TABLE webhooks DROP COLUMN status, DROP COLUMN attempts, DROP COLUMN last_error,
    DROP COLUMN updated_at, DROP COLUMN delivered_at;
-- The sweep of webhooks whose fan-out task was lost.
CREATE INDEX webhooks_unsent_idx ON webhooks (created_at) WHERE dispatched_at IS NULL;

-- +goose Down
ALTER TABLE webhooks
    ADD COLUMN status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN updated_at timestamptz,
    ADD COLUMN delivered_at timestamptz;
-- Each webhook takes the state of its latest delivery.
UPDATE webhooks e SET status = d.status, attempts = d.attempts, last_error = d.last_error,
    updated_at = d.updated_at, delivered_at = d.delivered_at
FROM (SELECT DISTINCT ON (webhook_id) * FROM webhook_deliveries ORDER BY webhook_id, created_at DESC, id DESC) d
WHERE d.webhook_id = e.id;
UPDATE webhooks SET updated_at = created_at WHERE updated_at IS NULL;
ALTER TABLE webhooks ALTER COLUMN updated_at SET NOT NULL;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP INDEX webhooks_unsent_idx;
ALTER TABLE webhooks DROP COLUMN dispatched_at;
ALTER TABLE webhooks RENAME CONSTRAINT webhooks_subject_id_type_key TO webhook_deliveries_subject_id_type_key;
ALTER INDEX webhooks_pkey RENAME TO webhook_deliveries_pkey;
ALTER TABLE webhooks RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, created_at DESC, id DESC);
