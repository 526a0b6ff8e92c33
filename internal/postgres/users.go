package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// UserStore keeps users and their refresh tokens.
type UserStore struct {
	pool *pgxpool.Pool
}

var _ account.Store = (*UserStore)(nil)

// NewUserStore returns the accounts' store on pool.
func NewUserStore(pool *pgxpool.Pool) *UserStore { return &UserStore{pool: pool} }

const userColumns = `id, email::text, name, role, password_hash, token_version, created_at, updated_at`

func scanUser(row pgx.Row) (account.User, error) {
	var u account.User
	var role string
	err := row.Scan(&u.ID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.TokenVersion, &u.CreatedAt, &u.UpdatedAt)
	u.Role = auth.Role(role)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

// CreateUser implements account.Store.
func (s *UserStore) CreateUser(ctx context.Context, u account.User) (err error) {
	defer wrap(&err, "create user=%s", u.ID)
	_, err = s.pool.Exec(ctx, `
		INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.CreatedAt, u.UpdatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "users_email_key" {
		return apperr.New(apperr.EmailTaken, "An account with this e-mail already exists.")
	}
	if err != nil {
		return err
	}
	return nil
}

// UserByID implements account.Store.
func (s *UserStore) UserByID(ctx context.Context, id uuid.UUID) (_ account.User, err error) {
	defer wrap(&err, "get user=%s", id)
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, missing(err, "user")
}

// UserByEmail implements account.Store.
func (s *UserStore) UserByEmail(ctx context.Context, email string) (_ account.User, err error) {
	defer wrap(&err, "get user by e-mail")
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	return u, missing(err, "user")
}

// ListUsers implements account.Store: newest first (ids are UUID v7), by
// keyset on the primary key; a search matches e-mail or name substrings
// through their trigram indexes.
func (s *UserStore) ListUsers(ctx context.Context, q account.ListQuery) (_ []account.User, err error) {
	defer wrap(&err, "list users")
	var (
		where conditions
		args  queryArgs
	)
	arg := args.add
	if q.Search != "" {
		p := arg("%" + escapeLike(q.Search) + "%")
		where.add("(email::text ILIKE " + p + " OR name ILIKE " + p + ")")
	}
	if q.After != uuid.Nil {
		where.add("id < " + arg(q.After))
	}
	sql := `SELECT ` + userColumns + ` FROM users`
	sql += where.sql()
	sql += ` ORDER BY id DESC LIMIT ` + arg(q.Limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	return collect(rows, err, scanUser)
}

// escapeLike quotes LIKE's wildcards (and its escape character) in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SetRole implements account.Store; updated_at, token_version and
// token_changed_at (by the database's clock, which TokenChanges reads
// against) move only on a change.
func (s *UserStore) SetRole(ctx context.Context, id uuid.UUID, role auth.Role, now time.Time) (_ account.User, err error) {
	defer wrap(&err, "set role of user=%s", id)
	u, err := scanUser(s.pool.QueryRow(ctx, `
		UPDATE users
		SET role = $2,
		    updated_at = CASE WHEN role = $2 THEN updated_at ELSE $3 END,
		    token_version = CASE WHEN role = $2 THEN token_version ELSE token_version + 1 END,
		    token_changed_at = CASE WHEN role = $2 THEN token_changed_at ELSE now() END
		WHERE id = $1
		RETURNING `+userColumns, id, string(role), now))
	return u, missing(err, "user")
}

// TokenChanges implements account.Store through the partial index on
// token_changed_at: the rows are the few accounts changed lately.
func (s *UserStore) TokenChanges(ctx context.Context, within time.Duration) (_ map[uuid.UUID]account.Standing, err error) {
	defer wrap(&err, "read token changes")
	rows, err := s.pool.Query(ctx, `
		SELECT id, role, token_version FROM users
		WHERE token_changed_at > now() - make_interval(secs => $1)`, within.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]account.Standing{}
	for rows.Next() {
		var (
			id   uuid.UUID
			role string
			st   account.Standing
		)
		if err := rows.Scan(&id, &role, &st.TokenVersion); err != nil {
			return nil, err
		}
		st.Role = auth.Role(role)
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateRefreshToken implements account.Store. The user's row is locked
// while the token is stored, so that EndSessions and ChangePassword, which
// lock it to raise the version, either come after the token and revoke
// it, or before it, and the stale version stores nothing. (FOR NO KEY
// UPDATE rather than FOR SHARE: share locks taken one after another could
// keep the version change waiting; these lockers queue in turn.)
func (s *UserStore) CreateRefreshToken(ctx context.Context, t account.RefreshToken, tokenVersion int) (err error) {
	defer wrap(&err, "create refresh token user=%s", t.UserID)
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
		SELECT $1, id, $3, $4, $5, $6 FROM users
		WHERE id = $2 AND token_version = $7
		FOR NO KEY UPDATE`,
		t.ID, t.UserID, t.FamilyID, t.Hash, t.ExpiresAt, t.CreatedAt, tokenVersion)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.Conflict, "The account changed since it was read.")
	}
	return nil
}

const insertRefreshToken = `
	INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
	VALUES ($1, $2, $3, $4, $5, $6)`

// RotateRefreshToken implements account.Store. The token's user is locked
// first, as in CreateRefreshToken, so that a refresh and EndSessions or
// ChangePassword, which lock the same row to raise its version, are never
// interleaved: the refresh either commits first, and its new token is
// there for them to revoke, or finds its token revoked. (One user's
// refreshes queue on the lock; they are minutes apart.) Then the presented
// token's row is locked, so of two refreshes racing with one token, the
// second sees it spent and revokes the family. Rows referencing users
// take only key-share locks, which this lock leaves alone.
func (s *UserStore) RotateRefreshToken(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time) (_ account.User, err error) {
	defer wrap(&err, "rotate refresh token")
	var (
		u       account.User
		refused bool
	)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			SELECT `+userColumns+` FROM users
			WHERE id = (SELECT user_id FROM refresh_tokens WHERE token_hash = $1)
			FOR NO KEY UPDATE`, hash))
		if isNoRows(err) {
			refused = true
			return nil
		}
		if err != nil {
			return err
		}
		var (
			id, familyID      uuid.UUID
			expiresAt         time.Time
			usedAt, revokedAt *time.Time
		)
		err = tx.QueryRow(ctx, `
			SELECT id, family_id, expires_at, used_at, revoked_at
			FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, hash,
		).Scan(&id, &familyID, &expiresAt, &usedAt, &revokedAt)
		if isNoRows(err) {
			refused = true
			return nil
		}
		if err != nil {
			return err
		}
		if revokedAt != nil || !expiresAt.After(now) {
			refused = true
			return nil
		}
		if usedAt != nil {
			// Reuse of a spent token: end the session everywhere.
			refused = true
			_, err := tx.Exec(ctx, `
				UPDATE refresh_tokens SET revoked_at = $2
				WHERE family_id = $1 AND revoked_at IS NULL`, familyID, now)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE id = $1`, id, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, insertRefreshToken,
			next.ID, u.ID, familyID, next.Hash, next.ExpiresAt, next.CreatedAt)
		return err
	})
	if err != nil {
		return account.User{}, err
	}
	if refused {
		return account.User{}, apperr.New(apperr.NotFound, "No live refresh token has this hash.")
	}
	return u, nil
}

// RevokeRefreshFamily implements account.Store.
func (s *UserStore) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (err error) {
	defer wrap(&err, "revoke refresh token family")
	_, err = s.pool.Exec(ctx, `
		UPDATE refresh_tokens SET revoked_at = $2
		WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
		  AND revoked_at IS NULL`, hash, now)
	if err != nil {
		return err
	}
	return nil
}

// EndSessions implements account.Store. Raising the version locks the
// user's row, which a refresh or a new session holds until it commits, so
// the revocation that follows sees every token stored before it, and a
// refresh after it finds its token revoked.
func (s *UserStore) EndSessions(ctx context.Context, id uuid.UUID, now time.Time) (err error) {
	defer wrap(&err, "end sessions of user=%s", id)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE users SET token_version = token_version + 1, token_changed_at = now()
			WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return revokeLiveRefreshTokens(ctx, tx, id, now)
	})
	return missing(err, "user")
}

// ChangePassword implements account.Store; the version rises and the
// tokens are revoked as in EndSessions, and the new session's token is
// stored after the revocation.
func (s *UserStore) ChangePassword(ctx context.Context, id uuid.UUID, oldHash, newHash string, session account.RefreshToken, now time.Time) (_ account.User, err error) {
	defer wrap(&err, "change password of user=%s", id)
	var u account.User
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			UPDATE users
			SET password_hash = $3, updated_at = $4,
			    token_version = token_version + 1, token_changed_at = now()
			WHERE id = $1 AND password_hash = $2
			RETURNING `+userColumns, id, oldHash, newHash, now))
		if isNoRows(err) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM users WHERE id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return apperr.New(apperr.Conflict, "The password changed since it was read.")
			}
			return pgx.ErrNoRows
		}
		if err != nil {
			return err
		}
		if err := revokeLiveRefreshTokens(ctx, tx, id, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, insertRefreshToken,
			session.ID, id, session.FamilyID, session.Hash, session.ExpiresAt, session.CreatedAt)
		return err
	})
	return u, missing(err, "user")
}

// revokeLiveRefreshTokens revokes the tokens of user id that could still
// be spent: one per session, the newest of its family (spent, revoked and
// expired ones are refused already).
func revokeLiveRefreshTokens(ctx context.Context, tx pgx.Tx, id uuid.UUID, now time.Time) error {
	_, err := tx.Exec(ctx, `
		UPDATE refresh_tokens SET revoked_at = $2
		WHERE user_id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2`, id, now)
	return err
}
