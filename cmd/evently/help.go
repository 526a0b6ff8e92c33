package main

import "slices"

// commandUsage is each command's own usage, printed by
// `evently <command> --help` (or -h, or help) without reading the
// configuration or starting anything.
var commandUsage = map[string]string{
	"serve": `usage: evently serve

Runs the REST API, the background worker and the scheduler in one process
until SIGINT or SIGTERM, then drains in order (HTTP, scheduler, worker).
Configuration comes from the environment; see docs/configuration.md and .env.example.
`,
	"migrate": `usage: evently migrate up|down|status

  up      apply every pending migration (the database is created if missing)
  down    roll back the latest migration
  status  list the migrations and whether each is applied
`,
	"admin": `usage: evently admin create [--email E] [--password P] [--name N]

Creates an admin, or makes an existing user one (only with their password);
idempotent. The e-mail and password default to EVENTLY_ADMIN_EMAIL and
EVENTLY_ADMIN_PASSWORD.
`,
	"healthcheck": `usage: evently healthcheck

Exits 0 when the local server's /readyz answers 200 (for container health
checks), 1 otherwise.
`,
	"seed": `usage: evently seed

Makes sure there is an admin (EVENTLY_ADMIN_EMAIL/EVENTLY_ADMIN_PASSWORD, or
admin@evently.local with a generated password, printed once) and creates the
demo events that are missing. A second run creates nothing.
`,
}

// asksForHelp reports whether a command's arguments ask for its usage.
func asksForHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" })
}
