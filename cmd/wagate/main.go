// Command wagate is the WhatsApp gateway: one binary that serves the API (the default),
// manages tenants on a stopped gateway's data dir, and prints its version.
//
//	wagate                       # same as: wagate serve (./gateway.yaml, or the built-in defaults without one)
//	wagate serve --config /etc/wagate/gateway.yaml
//	wagate tenant create --id acme --name "Acme Ltd"
//	wagate tenant list
//	wagate tenant delete acme
//	wagate session list --url http://127.0.0.1:8080 --key wag_...   # and send, events, webhook
//	wagate backup --to backup.wbk        # backup, restore: docs/operations.md
//	wagate version [--json]
//	wagate health --url http://127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/config"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wagate:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath string
	root := &cobra.Command{
		Use:           "wagate",
		Short:         "Multi-tenant WhatsApp gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cfgPath, stderr)
		},
	}
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", defaultConfigPath,
		"path of gateway.yaml; when not given and ./gateway.yaml does not exist, the built-in defaults (the shipped gateway.yaml) and WAGATE_* variables")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if !cmd.Flags().Changed("config") {
			cfgPath = "" // loadConfig: ./gateway.yaml if there, else the defaults
		}
	}
	root.SetOut(stdout)
	root.SetErr(stderr)

	root.AddCommand(&cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cfgPath, stderr)
		},
	})
	var versionJSON bool
	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information (version.go)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVersion(stdout, versionJSON)
		},
	}
	versionCmd.Flags().BoolVar(&versionJSON, "json", false, "print one JSON object")
	root.AddCommand(versionCmd)
	root.AddCommand(healthCommand(stdout))
	root.AddCommand(tenantCommand(&cfgPath, stdout))
	root.AddCommand(policyCommand(stdout))
	root.AddCommand(sessionCommand(stdout), sendCommand(stdout), eventsCommand(stdout), webhookCommand(stdout))
	root.AddCommand(backupCommand(&cfgPath, stdout), restoreCommand(&cfgPath, stdout))
	root.AddCommand(clusterCommand(stdout))
	return root
}

func versionString() string { return "wagate " + buildVersion() }

// buildVersion is the version of this build (-ldflags "-X main.version=..." or the
// module version), with the VCS revision when known: what /api/server/version and
// every event's environment say.
func buildVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}

// defaultConfigPath is the config file read when --config is not given.
const defaultConfigPath = "gateway.yaml"

func loadConfig(path string) (config.Config, error) {
	cfg, _, err := resolveConfig(path, os.LookupEnv)
	return cfg, err
}

// resolveConfig loads the config file at path. Path "" (no --config given) reads
// ./gateway.yaml when it exists and otherwise takes the built-in defaults — the same
// values as the shipped gateway.yaml (config_test.go holds them equal) — with the
// WAGATE_* variables applied; source says which ("built-in defaults" or the file). A
// --config naming a file that does not exist is an error.
func resolveConfig(path string, lookupEnv func(string) (string, bool)) (cfg config.Config, source string, err error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); errors.Is(err, fs.ErrNotExist) {
			cfg, err := config.Parse(nil, lookupEnv)
			if err != nil {
				return config.Config{}, "", fmt.Errorf("built-in defaults (no %s here, no --config): %w", defaultConfigPath, err)
			}
			return cfg, "built-in defaults", nil
		}
		path = defaultConfigPath
	}
	cfg, err = config.Load(path, lookupEnv)
	return cfg, path, err
}

// runServe runs the gateway until SIGINT or SIGTERM, then shuts down gracefully within
// server.shutdown_timeout.
func runServe(ctx context.Context, cfgPath string, stderr io.Writer) error {
	cfg, source, err := resolveConfig(cfgPath, os.LookupEnv)
	if err != nil {
		return err
	}
	log := config.NewLogger(cfg.Log, stderr)
	if cfgPath == "" && source != defaultConfigPath {
		log.Info("no gateway.yaml in the working directory and no --config: running with the built-in defaults (WAGATE_* variables apply)")
	}
	checkOpenFiles(log, cfg)
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	g, err := openGateway(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		g.shutdown(context.Background())
		return fmt.Errorf("listening on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	log.Info("wagate listening", "addr", ln.Addr().String(), "version", versionString(), "data", cfg.Store.Dir,
		"docs", "http://"+ln.Addr().String()+"/api/openapi.json")

	served := make(chan error, 1)
	go func() { served <- g.serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down", "deadline", cfg.Server.ShutdownTimeout.String())
	case err := <-served:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("server stopped", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	g.shutdown(sctx)
	return nil
}
