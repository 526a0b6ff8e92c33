-- +goose Up

-- An Idempotency-Key is now written only together with its answer: a hold
-- decided in Postgres records it in the hold's own transaction, any other
-- answer is recorded in one statement. A key claimed without an answer
-- (which a request that died in flight could leave behind) no longer
-- exists, so a retry can never find one and hold a second time.
DELETE FROM idempotency_keys WHERE status_code IS NULL OR response_body IS NULL;
ALTER TABLE idempotency_keys
    ALTER COLUMN status_code SET NOT NULL,
    ALTER COLUMN response_body SET NOT NULL;

-- +goose Down
ALTER TABLE idempotency_keys
    ALTER COLUMN status_code DROP NOT NULL,
    ALTER COLUMN response_body DROP NOT NULL;
