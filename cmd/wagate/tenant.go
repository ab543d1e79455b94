package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/tenant"
)

// tenantCommand is `wagate tenant`: admin operations straight on the data dir, for
// bootstrapping without HTTP. The gateway must be stopped (Badger locks the directory);
// on a running gateway use the admin API instead.
func tenantCommand(cfgPath *string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Create, list, update and delete tenants and their keys on the data dir (gateway stopped)",
	}

	var id, name string
	var maxSessions, maxPerDay int
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a tenant and print its first API key (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withTenants(*cfgPath, func(cfg config.Config, s *tenant.Service, _ *store.DB) error {
				in := tenant.CreateInput{ID: id, Name: name}
				if c.Flags().Changed("max-sessions") || c.Flags().Changed("max-messages-per-day") {
					p := tenant.Plan{MaxSessions: cfg.Limits.DefaultPlan.MaxSessions, MaxMessagesPerDay: cfg.Limits.DefaultPlan.MaxMessagesPerDay,
						MaxCampaigns: cfg.Limits.DefaultPlan.MaxCampaigns, MaxListSize: cfg.Limits.DefaultPlan.MaxListSize}
					if c.Flags().Changed("max-sessions") {
						p.MaxSessions = maxSessions
					}
					if c.Flags().Changed("max-messages-per-day") {
						p.MaxMessagesPerDay = maxPerDay
					}
					in.Plan = &p
				}
				t, k, err := s.Create(c.Context(), in)
				if err != nil {
					return err
				}
				return printJSON(stdout, map[string]any{"tenant": t, "apiKey": k})
			})
		},
	}
	create.Flags().StringVar(&id, "id", "", "tenant id: 1-40 of a-z, 0-9, '-' (generated when empty)")
	create.Flags().StringVar(&name, "name", "", "display name (defaults to the id)")
	create.Flags().IntVar(&maxSessions, "max-sessions", 0, "plan: max sessions (default from limits.default_plan)")
	create.Flags().IntVar(&maxPerDay, "max-messages-per-day", 0, "plan: max messages per UTC day, 0 unlimited")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants as JSON",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withTenants(*cfgPath, func(_ config.Config, s *tenant.Service, _ *store.DB) error {
				ts, err := s.List(c.Context())
				if err != nil {
					return err
				}
				return printJSON(stdout, ts)
			})
		},
	}

	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a tenant with all its keys, sessions and data",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withTenants(*cfgPath, func(_ config.Config, s *tenant.Service, _ *store.DB) error {
				if err := s.Delete(c.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "deleted tenant %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, del, tenantUpdateCommand(cfgPath, stdout), tenantKeyCommand(cfgPath, stdout))
	return cmd
}

// tenantUpdateCommand is `wagate tenant update <id>`: a new name or plan limits, as
// PATCH /api/admin/tenants/{id} does on a running gateway.
func tenantUpdateCommand(cfgPath *string, stdout io.Writer) *cobra.Command {
	var name string
	var maxSessions, maxPerDay int
	update := &cobra.Command{
		Use:   "update <id>",
		Short: "Change a tenant's name or plan (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var in tenant.UpdateInput
			if c.Flags().Changed("name") {
				in.Name = &name
			}
			if c.Flags().Changed("max-sessions") {
				in.MaxSessions = &maxSessions
			}
			if c.Flags().Changed("max-messages-per-day") {
				in.MaxMessagesPerDay = &maxPerDay
			}
			if in == (tenant.UpdateInput{}) {
				return fmt.Errorf("nothing to update: give --name, --max-sessions or --max-messages-per-day")
			}
			return withTenants(*cfgPath, func(_ config.Config, s *tenant.Service, _ *store.DB) error {
				t, err := s.Update(c.Context(), args[0], in)
				if err != nil {
					return err
				}
				return printJSON(stdout, t)
			})
		},
	}
	update.Flags().StringVar(&name, "name", "", "new display name")
	update.Flags().IntVar(&maxSessions, "max-sessions", 0, "plan: max sessions")
	update.Flags().IntVar(&maxPerDay, "max-messages-per-day", 0, "plan: max messages per UTC day, 0 unlimited")
	return update
}

// tenantKeyCommand is `wagate tenant key create|list|revoke`: a tenant's API keys, with
// scopes (docs/api.md, "Key scopes").
func tenantKeyCommand(cfgPath *string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create, list and revoke a tenant's API keys"}
	var name string
	var scopes []string
	create := &cobra.Command{
		Use:   "create <tenant>",
		Short: "Create an API key and print it (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sc := make([]tenant.Scope, len(scopes))
			for i, v := range scopes {
				sc[i] = tenant.Scope(v)
			}
			return withTenants(*cfgPath, func(_ config.Config, s *tenant.Service, _ *store.DB) error {
				k, err := s.CreateKey(c.Context(), args[0], name, sc...)
				if err != nil {
					return err
				}
				return printJSON(stdout, k)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name to recognise the key by")
	create.Flags().StringSliceVar(&scopes, "scopes", nil, "read, send, admin (comma-separated; default admin)")
	list := &cobra.Command{
		Use:   "list <tenant>",
		Short: "List a tenant's keys as JSON (without the secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withTenants(*cfgPath, func(_ config.Config, s *tenant.Service, _ *store.DB) error {
				keys, err := s.ListKeys(c.Context(), args[0])
				if err != nil {
					return err
				}
				return printJSON(stdout, keys)
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke <tenant> <key id>",
		Short: "Revoke a key: it stops working at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return withTenants(*cfgPath, func(_ config.Config, s *tenant.Service, _ *store.DB) error {
				if err := s.RevokeKey(c.Context(), args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked key %s of tenant %s\n", args[1], args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// withTenants opens the store of the config (Badger refuses if a gateway holds it).
func withTenants(cfgPath string, fn func(config.Config, *tenant.Service, *store.DB) error) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	key, err := cfg.Store.ResolveEncryptionKey()
	if err != nil {
		return err
	}
	db, err := store.Open(store.Options{Dir: cfg.Store.Dir, EncryptionKey: key, SyncWrites: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("%w (the tenant command works on a stopped gateway; on a running one use the admin API)", err)
	}
	defer db.Close()
	s := tenant.NewService(db, tenant.Options{
		DefaultPlan: tenant.Plan{MaxSessions: cfg.Limits.DefaultPlan.MaxSessions, MaxMessagesPerDay: cfg.Limits.DefaultPlan.MaxMessagesPerDay,
			MaxCampaigns: cfg.Limits.DefaultPlan.MaxCampaigns, MaxListSize: cfg.Limits.DefaultPlan.MaxListSize},
		MaxTenants: cfg.Limits.MaxTenants,
	})
	return fn(cfg, s, db)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
