-- +goose Up
-- Revoking access tokens. An access token is a signed JWT that lives 15
-- minutes; it carries the token_version of its account, and a change that
-- must revoke the tokens already issued (a change of role) raises the
-- version and stamps token_changed_at. Each process reads the accounts
-- changed within the tokens' lifetime (a handful: the partial index) every
-- few seconds and refuses tokens older than their account's version.
ALTER TABLE users
    ADD COLUMN token_version    integer NOT NULL DEFAULT 0 CHECK (token_version >= 0),
    ADD COLUMN token_changed_at timestamptz;

CREATE INDEX users_token_changed_at ON users (token_changed_at) WHERE token_changed_at IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS users_token_changed_at;
ALTER TABLE users DROP COLUMN IF EXISTS token_changed_at, DROP COLUMN IF EXISTS token_version;
