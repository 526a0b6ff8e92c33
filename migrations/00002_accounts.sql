-- +goose Up
-- Accounts: users and their rotating refresh tokens. Ids are UUID v7, made
-- by the application, so that they sort by creation time.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         citext NOT NULL CONSTRAINT users_email_key UNIQUE,
    name          text NOT NULL CHECK (name <> ''),
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- GET /admin/users?q= matches a substring of the e-mail or the name
-- (ILIKE '%q%'); trigram indexes serve both sides of the OR.
CREATE INDEX users_email_trgm ON users USING gin ((email::text) gin_trgm_ops);
CREATE INDEX users_name_trgm ON users USING gin (name gin_trgm_ops);

-- A refresh token is stored as the SHA-256 of its random bytes, never
-- itself. Tokens rotate: each refresh spends one (used_at) and issues the
-- next in the same family; presenting a spent token again revokes the whole
-- family (revoked_at), as does logging out.
CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid NOT NULL,
    token_hash bytea NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE
               CHECK (octet_length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    revoked_at timestamptz
);

-- Revoking a family (reuse, logout) and deleting a user's tokens.
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);

-- +goose Down
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS users;
