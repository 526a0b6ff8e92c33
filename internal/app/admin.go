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
// EVENTLY_ADMIN_PASSWORD exists (see account.Service.EnsureAdmin). With
// several replicas starting together, each one does so; the outcome is the
// same.
func bootstrapAdmin(ctx context.Context, accounts *account.Service, cfg config.Config, logger *slog.Logger) error {
	if cfg.AdminEmail == "" {
		return nil
	}
	u, outcome, err := accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword, AdminName)
	var ae *apperr.Error
	if errors.As(err, &ae) && len(ae.Fields) > 0 {
		vars := map[string]string{"email": "EVENTLY_ADMIN_EMAIL", "password": "EVENTLY_ADMIN_PASSWORD"}
		var msgs []string
		for _, f := range ae.Fields {
			name := vars[f.Field]
			if name == "" {
				name = f.Field
			}
			msgs = append(msgs, name+": "+f.Message)
		}
		return fmt.Errorf("bootstrap admin: %s", strings.Join(msgs, "; "))
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin from EVENTLY_ADMIN_EMAIL: %w", err)
	}
	logger.Info("bootstrap admin", "email", u.Email, "user_id", u.ID, "outcome", outcome)
	return nil
}
