// Command thv is an example host shaped like ToolHive's CLI: a cobra tree
// with fast commands, a command that takes values (which must never be
// recorded), and a command that already uses net/http (so the binary-size
// comparison is against a host that links it anyway).
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

var version = "0.9.0"

func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "thv", Short: "An example MCP server manager", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().Bool("no-telemetry", false, "disable telemetry for this run")
	list := &cobra.Command{Use: "list", Short: "List servers", Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "NAME\tSTATUS\nfetch\trunning") }}
	var secret string
	run := &cobra.Command{Use: "run IMAGE", Short: "Run a server", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "started %s\n", args[0])
			return nil
		}}
	run.Flags().StringVar(&secret, "secret", "", "a value that must never be recorded")
	stop := &cobra.Command{Use: "stop NAME", Short: "Stop a server", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "missing" {
				return errors.New("no such server")
			}
			return nil
		}}
	config := &cobra.Command{Use: "config", Short: "Manage configuration"}
	config.AddCommand(&cobra.Command{Use: "get-registry", Short: "Print the registry", Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "https://registry.example") }})
	var check bool
	ver := &cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), version)
			if check {
				c := &http.Client{Timeout: 2 * time.Second}
				resp, err := c.Get(os.Getenv("THV_UPDATE_URL"))
				if err != nil {
					return err
				}
				resp.Body.Close()
			}
			return nil
		}}
	ver.Flags().BoolVar(&check, "check", false, "check for a newer version")
	root.AddCommand(list, run, stop, config, ver)
	return root
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args[1:] {
		if a == "--" {
			return false
		}
		if a == flag {
			return true
		}
	}
	return false
}
