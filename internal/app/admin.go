package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/config"
)

// AdminName is the name given to an admin created without one.
const AdminName = "Administrator"

// bootstrapAdmin makes sure that the admin of EVENTLY_ADMIN_EMAIL and
// EVENTLY_ADMIN_PASSWORD exists. With several replicas starting together,
// each one does so; the outcome is the same.
//
// When someone else registered that e-mail first (a user whose password is
// not EVENTLY_ADMIN_PASSWORD), their account is never promoted, and the
// process starts anyway, logging an error: whoever registers an address
// must not be able to keep the service from starting.
func bootstrapAdmin(ctx context.Context, accounts *account.Service, cfg config.Config, logger *slog.Logger) error {
	if cfg.AdminEmail == "" {
		return nil
	}
	u, outcome, err := EnsureAdmin(ctx, accounts, cfg.AdminEmail, cfg.AdminPassword, AdminName,
		map[string]string{"email": "EVENTLY_ADMIN_EMAIL", "password": "EVENTLY_ADMIN_PASSWORD"})
	if apperr.Is(err, apperr.Conflict) {
		logger.ErrorContext(ctx, "bootstrap admin not made: EVENTLY_ADMIN_EMAIL belongs to an existing account "+
			"whose password is not EVENTLY_ADMIN_PASSWORD, which was left as it is (not promoted); starting without it. "+
			"Choose another e-mail, or make an admin with `evently admin create`",
			"email", cfg.AdminEmail)
		return nil
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin of EVENTLY_ADMIN_EMAIL: %w", err)
	}
	logger.Info("bootstrap admin", "email", u.Email, "user_id", u.ID, "outcome", outcome)
	return nil
}

// EnsureAdmin is account.Service.EnsureAdmin for an operator: its
// validation failures name what the operator set, as names maps them
// (e.g. "password" to "EVENTLY_ADMIN_PASSWORD" or "--password").
func EnsureAdmin(ctx context.Context, accounts *account.Service, email, password, name string, names map[string]string) (account.User, account.AdminOutcome, error) {
	u, outcome, err := accounts.EnsureAdmin(ctx, email, password, name)
	var ae *apperr.Error
	if errors.As(err, &ae) && len(ae.Fields) > 0 {
		var msgs []string
		for _, f := range ae.Fields {
			field := names[f.Field]
			if field == "" {
				field = f.Field
			}
			msgs = append(msgs, field+" "+f.Message)
		}
		return u, outcome, errors.New(strings.Join(msgs, "; "))
	}
	return u, outcome, err
}
