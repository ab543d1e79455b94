// Command wagate is the WhatsApp gateway: one binary that serves the API (the default),
// manages tenants on a stopped gateway's data dir, and prints its version.
//
//	wagate                       # same as: wagate serve --config gateway.yaml
//	wagate serve --config /etc/wagate/gateway.yaml
//	wagate tenant create --id acme --name "Acme Ltd"
//	wagate tenant list
//	wagate tenant delete acme
//	wagate version [--json]
//	wagate health --url http://127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", "gateway.yaml", "path of gateway.yaml")
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

func loadConfig(path string) (config.Config, error) {
	return config.Load(path, os.LookupEnv)
}

// runServe runs the gateway until SIGINT or SIGTERM, then shuts down gracefully within
// server.shutdown_timeout.
func runServe(ctx context.Context, cfgPath string, stderr io.Writer) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	log := config.NewLogger(cfg.Log, stderr)
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
