// Package cobratally connects tally to a cobra CLI: the `telemetry
// status|on|off|prompt|show|flush|log` commands, `config otel
// get|set|unset usage-analytics-enabled` (ToolHive's key), and a pre-run
// hook that counts the command path, never argument or flag values.
//
// It is a module of its own so the core module stays standard library
// only. A host does:
//
//	t, _ := tally.New(tally.Options{Name: "thv", Version: version, Endpoint: endpoint})
//	root := newRootCmd()
//	cobratally.Attach(root, t)
//	os.Exit(cobratally.Execute(root, t))
//
// Execute closes telemetry before it returns the exit code, so the run's
// counts are on disk before os.Exit; commands that exit early must call
// t.Exit(code) instead of os.Exit(code).
package cobratally

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	tally "github.com/tally-telemetry/tally-go"
)

// OtelKey is the key `config otel get|set|unset` manages.
const OtelKey = "usage-analytics-enabled"

// CommandPath returns cmd's path below the root ("config otel get"); ""
// for the root itself. Only command names are used, never arguments.
func CommandPath(cmd *cobra.Command) string {
	var names []string
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		names = append([]string{c.Name()}, names...)
	}
	return strings.Join(names, " ")
}

// isManage reports whether path is one of tally's own management commands,
// which are not counted.
func isManage(path string) bool {
	return path == "telemetry" || strings.HasPrefix(path, "telemetry ") || strings.HasPrefix(path, "config otel")
}

// Hook returns a pre-run function that counts the command path.
func Hook(t *tally.Telemetry) func(cmd *cobra.Command, args []string) {
	return func(cmd *cobra.Command, _ []string) {
		switch p := CommandPath(cmd); {
		case p == "":
		case isManage(p):
			t.ManagementRun()
		default:
			t.RecordCommand(p)
		}
	}
}

// Attach adds the telemetry commands and `config otel` to root and installs
// the counting hook in every persistent pre-run of the tree (chained before
// the host's own, which keep working: cobra runs only the nearest one).
func Attach(root *cobra.Command, t *tally.Telemetry) {
	root.AddCommand(TelemetryCommand(t))
	var config *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "config" {
			config = c
		}
	}
	if config == nil {
		config = &cobra.Command{Use: "config", Short: "Manage configuration"}
		root.AddCommand(config)
	}
	config.AddCommand(OtelCommand(t))
	hook := Hook(t)
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		switch {
		case c.PersistentPreRunE != nil:
			inner := c.PersistentPreRunE
			c.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
				hook(cmd, args)
				return inner(cmd, args)
			}
		case c.PersistentPreRun != nil:
			inner := c.PersistentPreRun
			c.PersistentPreRun = func(cmd *cobra.Command, args []string) {
				hook(cmd, args)
				inner(cmd, args)
			}
		case c == root:
			c.PersistentPreRun = hook
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
}

// Execute runs root, counts how the command ended (success, failure, or a
// usage error for a bad command line), closes telemetry and returns the
// exit code for os.Exit.
func Execute(root *cobra.Command, t *tally.Telemetry) int {
	return ExecuteContext(context.Background(), root, t)
}

// ExecuteContext is Execute with a context.
func ExecuteContext(ctx context.Context, root *cobra.Command, t *tally.Telemetry) int {
	return t.Run(func() int {
		_, err := root.ExecuteContextC(ctx)
		var coded interface{ ExitCode() int }
		switch {
		case err == nil:
			return 0
		case errors.As(err, &coded):
			return coded.ExitCode()
		case isUsageError(err):
			return 2
		}
		return 1
	})
}

// exitCode is an error that ends the command with its own exit code.
type exitCode struct {
	error
	code int
}

func (e exitCode) ExitCode() int { return e.code }

func isUsageError(err error) bool {
	m := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// TelemetryCommand returns the `telemetry` command and its subcommands.
func TelemetryCommand(t *tally.Telemetry) *cobra.Command {
	root := &cobra.Command{Use: "telemetry", Short: "Show or change the anonymous usage telemetry setting"}
	var asJSON bool
	status := &cobra.Command{Use: "status", Short: "Say whether telemetry is on, and what decided it", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := t.Status()
			if asJSON {
				_, err := cmd.OutOrStdout().Write(st.JSON())
				return err
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		}}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	on := &cobra.Command{Use: "on", Short: "Turn telemetry on", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.SetEnabled(true, "command"); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Telemetry is on. Thank you.")
			warnIfOverridden(cmd, t, true)
			return nil
		}}
	off := &cobra.Command{Use: "off", Short: "Turn telemetry off and delete what was kept", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.SetEnabled(false, "command"); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Telemetry is off; the local counts and the machine id were deleted.")
			return nil
		}}
	prompt := &cobra.Command{Use: "prompt", Short: "Ask whether to send anonymous usage counts (for installers)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !t.PromptDue() {
				fmt.Fprintln(cmd.ErrOrStderr(), "Telemetry: "+t.Status().Reason)
				return nil
			}
			if !isTerminal(os.Stdin) || !isTerminal(os.Stderr) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Not asking: no terminal. Use `%s on` or `%s off`.\n", t.Manage(), t.Manage())
				return nil
			}
			fmt.Fprintf(os.Stderr, "Send anonymous usage counts (commands and outcomes; never arguments, paths or names)? [y/N] ")
			var answer string
			_, _ = fmt.Fscanln(os.Stdin, &answer)
			yes := strings.HasPrefix(strings.ToLower(strings.TrimSpace(answer)), "y")
			if err := t.SetEnabled(yes, "prompt"); err != nil {
				return err
			}
			if yes {
				_ = t.RecordInstall()
			}
			return nil
		}}
	show := &cobra.Command{Use: "show", Short: "Print the batch the next send would post", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := t.Pending()
			if err != nil {
				return err
			}
			if string(b) == "null" {
				fmt.Fprintln(cmd.OutOrStdout(), "Nothing is waiting to be sent (only completed UTC days are sent).")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		}}
	flush := &cobra.Command{Use: "flush", Short: "Send what is due now, in the foreground", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := t.SendNow(cmd.Context())
			for _, e := range res.Sent {
				fmt.Fprintf(cmd.OutOrStdout(), "%s batch %s: HTTP %d, %d events, %d bytes\n", e.Result, e.BatchID, e.Status, e.Events, e.Bytes)
			}
			if err != nil {
				return err
			}
			if len(res.Sent) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Nothing sent: "+res.Skipped)
			}
			// Exits 1 when the send could not even be attempted, as a
			// Rust host's `telemetry flush` does.
			if code := res.ExitCode(nil); code != 0 {
				// The reason is printed above; no usage text, no second message.
				cmd.SilenceUsage, cmd.SilenceErrors = true, true
				return exitCode{fmt.Errorf("nothing sent (%s)", res.Result), code}
			}
			return nil
		}}
	logCmd := &cobra.Command{Use: "log", Short: "List what was sent", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries := t.Log()
			if len(entries) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Nothing was sent from this machine.")
			}
			for _, e := range entries {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s HTTP %d %d events %d bytes to %s\n", e.At, e.Result, e.BatchID, e.Status, e.Events, e.Bytes, e.Endpoint)
			}
			return nil
		}}
	root.AddCommand(status, on, off, prompt, show, flush, logCmd)
	return root
}

// OtelCommand returns `otel get|set|unset usage-analytics-enabled`, the
// stored telemetry choice under ToolHive's key.
func OtelCommand(t *tally.Telemetry) *cobra.Command {
	root := &cobra.Command{Use: "otel", Short: "Get or set " + OtelKey + " (the telemetry choice)"}
	key := func(args []string) error {
		if len(args) == 0 || args[0] != OtelKey {
			return fmt.Errorf("unknown key; the only key is %s", OtelKey)
		}
		return nil
	}
	get := &cobra.Command{Use: "get " + OtelKey, Short: "Print the stored choice", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := key(args); err != nil {
				return err
			}
			if on, ok := t.StoredChoice(); ok {
				fmt.Fprintln(cmd.OutOrStdout(), on)
				return nil
			}
			st := t.Status()
			fmt.Fprintf(cmd.OutOrStdout(), "%v (not set: %s)\n", st.Enabled, st.Reason)
			return nil
		}}
	set := &cobra.Command{Use: "set " + OtelKey + " true|false", Short: "Store the choice", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := key(args); err != nil {
				return err
			}
			on, ok := tally.ParseSwitch(args[1])
			if !ok {
				return fmt.Errorf("%s takes true or false", OtelKey)
			}
			if err := t.SetEnabled(on, "otel-config"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s = %v\n", OtelKey, on)
			warnIfOverridden(cmd, t, on)
			return nil
		}}
	unset := &cobra.Command{Use: "unset " + OtelKey, Short: "Forget the stored choice", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := key(args); err != nil {
				return err
			}
			return t.ClearChoice()
		}}
	root.AddCommand(get, set, unset)
	return root
}

func warnIfOverridden(cmd *cobra.Command, t *tally.Telemetry, want bool) {
	if st := t.Status(); st.Enabled != want {
		fmt.Fprintln(cmd.ErrOrStderr(), "Note: "+st.Reason)
	}
}

func printStatus(w io.Writer, st tally.Status) {
	word := "off"
	if st.Enabled {
		word = "on"
	}
	fmt.Fprintf(w, "Telemetry is %s: %s\n", word, st.Reason)
	fmt.Fprintf(w, "  decided by:  %s\n  consent file: %s\n  state dir:   %s\n  policy file: %s\n", st.DecidedBy, st.ConfigFile, st.StateDir, st.PolicyFile)
	if st.Endpoint != "" {
		fmt.Fprintf(w, "  endpoint:    %s\n", st.Endpoint)
	}
	if st.EndpointProblem != "" {
		fmt.Fprintf(w, "  problem:     %s\n", st.EndpointProblem)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "  last error:  %s\n", st.LastError)
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "  warning:     %s\n", warn)
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
