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

-- booking_write_check aborts the statement (and its transaction) unless
-- ok: a batch's write checks that it changed exactly the seats its
-- bookings count, so that a fault in the allocator can never leave a
-- booking without its seats — the batch fails and its requests are tried
-- one by one.
-- +goose StatementBegin
CREATE FUNCTION booking_write_check(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'booking write check failed: %', what USING ERRCODE = 'P0001';
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION booking_write_check(boolean, text);
ALTER TABLE idempotency_keys
    ALTER COLUMN status_code DROP NOT NULL,
    ALTER COLUMN response_body DROP NOT NULL;
