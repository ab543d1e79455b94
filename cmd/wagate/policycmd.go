package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
	luahost "github.com/wagate/wagate/core/policy/lua"
	wasmhost "github.com/wagate/wagate/core/policy/wasm"
)

// policyCommand is `wagate policy`: run a Lua or WASM policy offline, without a
// gateway.
//
//	wagate policy test router.lua --hook route --input case.json
//	wagate policy bench router.lua
func policyCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Run a policy offline: test a hook on an input, benchmark its hooks"}
	var hook, input, cfgFile string
	var timeout time.Duration
	test := &cobra.Command{
		Use:   "test <file.lua|file.wasm>",
		Short: "Call one hook with a JSON input (docs/plugins.md) and print the answer and its time",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := openPolicyFile(c.Context(), args[0], cfgFile)
			if err != nil {
				return err
			}
			defer p.Close()
			in, err := os.ReadFile(input)
			if err != nil {
				return fmt.Errorf("reading --input: %w", err)
			}
			ctx, cancel := context.WithTimeout(c.Context(), timeout)
			defer cancel()
			t0 := time.Now()
			out, err := catalog.Call(ctx, p, hook, in)
			took := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: %w (after %v)", hook, err, took)
			}
			b, _ := json.MarshalIndent(out, "", "  ")
			fmt.Fprintf(stdout, "%s\n%s took %v\n", b, hook, took)
			return nil
		},
	}
	test.Flags().StringVar(&hook, "hook", "route", "hook to call: route, failover, rate or transform")
	test.Flags().StringVar(&input, "input", "", "JSON file with the hook's input (required)")
	test.Flags().StringVar(&cfgFile, "config", "", "JSON file with the policy's configuration")
	test.Flags().DurationVar(&timeout, "timeout", policy.DefaultTimeout, "budget of the call")
	test.MarkFlagRequired("input")

	var n int
	bench := &cobra.Command{
		Use:   "bench <file.lua|file.wasm>",
		Short: "Call every hook the policy implements n times on a generated input (10 candidates) and print ns/op",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := openPolicyFile(c.Context(), args[0], cfgFile)
			if err != nil {
				return err
			}
			defer p.Close()
			return benchPolicy(c.Context(), stdout, p, n, timeout)
		},
	}
	bench.Flags().IntVar(&n, "n", 10000, "calls per hook")
	bench.Flags().StringVar(&cfgFile, "config", "", "JSON file with the policy's configuration")
	bench.Flags().DurationVar(&timeout, "timeout", policy.DefaultTimeout, "budget of each call")
	cmd.AddCommand(test, bench)
	return cmd
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// openPolicyFile loads a policy file by its extension with the runtime that runs it.
func openPolicyFile(ctx context.Context, path, cfgFile string) (policy.Plugin, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg json.RawMessage
	if cfgFile != "" {
		if cfg, err = os.ReadFile(cfgFile); err != nil {
			return nil, fmt.Errorf("reading --config: %w", err)
		}
	}
	rt, err := runtimeFor(path)
	if err != nil {
		return nil, err
	}
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))), "-"), "-")
	if name == "" {
		name = "policy"
	}
	return policy.Open(ctx, rt, policy.Spec{Tenant: "cli", Name: name, Source: src, Config: cfg,
		KV: policy.NewMemKV(policy.KVLimits{}).For("cli")})
}

// runtimeFor picks the runtime of a policy file by its extension.
func runtimeFor(path string) (policy.Runtime, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".lua":
		return luahost.New(luahost.Options{MaxScriptSize: 1 << 20}), nil
	case ".wasm":
		return wasmhost.New(wasmhost.Options{}), nil
	}
	return nil, fmt.Errorf("%s: unknown policy file type (.lua, .wasm)", path)
}

// benchPolicy times n calls of each implemented hook, each with its own budget as the
// chain gives it.
func benchPolicy(ctx context.Context, w io.Writer, p policy.Plugin, n int, budget time.Duration) error {
	now := time.Now()
	msg := policy.Message{ID: "msg_bench", Tenant: "cli", ChatID: "447700900123@c.us", Kind: "text", Text: "hello", CreatedAt: now}
	cands := make([]policy.Candidate, 10)
	for i := range cands {
		cands[i] = policy.Candidate{Session: fmt.Sprintf("s%d", i), Provider: "whatsmeow", State: "WORKING", QueueDepth: i,
			SentMinute: i, SentHour: 10 * i, SentDay: 100 * i, LinkedAt: now.Add(-time.Duration(i) * 24 * time.Hour)}
	}
	cands[3].LastContact = now.Add(-time.Hour)
	env := event.New(event.Message, "cli", "s1", map[string]any{"from": "447700900123@c.us", "text": "hello"})
	calls := map[policy.Hook]func(context.Context) error{
		policy.HookRoute: func(ctx context.Context) error {
			_, err := p.(policy.RouteHook).Route(ctx, policy.RouteInput{Now: now, Message: msg, Candidates: cands})
			return err
		},
		policy.HookFailover: func(ctx context.Context) error {
			_, err := p.(policy.FailoverHook).Failover(ctx, policy.FailoverInput{Now: now, Message: msg, Session: cands[0],
				Error: policy.Error{Code: "banned", Message: "number banned"}, Attempt: 1, Candidates: cands})
			return err
		},
		policy.HookRate: func(ctx context.Context) error {
			_, err := p.(policy.RateHook).Rate(ctx, policy.RateInput{Now: now, Message: msg, Session: cands[0]})
			return err
		},
		policy.HookTransform: func(ctx context.Context) error {
			_, err := p.(policy.TransformHook).Transform(ctx, policy.TransformInput{Now: now, Event: env})
			return err
		},
	}
	for _, h := range policy.AllHooks {
		if !p.Info().Hooks.Has(h) {
			continue
		}
		failed := 0
		t0 := time.Now()
		for range n {
			cctx, cancel := context.WithTimeout(ctx, budget)
			if calls[h](cctx) != nil {
				failed++
			}
			cancel()
		}
		took := time.Since(t0)
		fmt.Fprintf(w, "%-9s %8d calls %10.0f ns/op %6d failed\n", h, n, float64(took.Nanoseconds())/float64(max(n, 1)), failed)
	}
	return nil
}
