package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/miniruntime/miniruntime/netns"
	"github.com/spf13/cobra"
)

func netOptions(who string) netns.Options {
	return netns.Options{Root: g.root, Recorder: g.recorder(who)}
}

func networkCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "network",
		Short: "Manage bridge networks that containers join (miniruntime.network annotation, --net)",
	}
	c.AddCommand(networkCreateCmd(), networkLsCmd(), networkInspectCmd(), networkRmCmd())
	return c
}

func networkCreateCmd() *cobra.Command {
	var subnet, gateway string
	n := netns.Network{}
	c := &cobra.Command{
		Use:   "create [flags] NAME",
		Short: "Create a network: a bridge with a subnet, NAT to the outside, isolated from other networks",
		Args:  exactArgs("a network name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n.Name = args[0]
			var err error
			if subnet != "" {
				if n.Subnet, err = netip.ParsePrefix(subnet); err != nil {
					return fmt.Errorf("--subnet %q: %w", subnet, err)
				}
			}
			if gateway != "" {
				if n.Gateway, err = netip.ParseAddr(gateway); err != nil {
					return fmt.Errorf("--gateway %q: %w", gateway, err)
				}
			}
			created, err := netns.CreateNetwork(n, netOptions("network"))
			if err != nil {
				return err
			}
			fmt.Printf("%s %s gateway %s bridge %s\n", created.Name, created.Subnet, created.Gateway, created.Bridge)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&subnet, "subnet", "", "IPv4 subnet, e.g. 10.89.0.0/24 (default: a free /24)")
	f.StringVar(&gateway, "gateway", "", "the bridge's address (default: the subnet's first)")
	f.StringVar(&n.Bridge, "bridge", "", "bridge device name (default mr-NAME)")
	f.BoolVar(&n.Internal, "internal", false, "no route out and no NAT: containers reach only each other")
	f.BoolVar(&n.NoMasquerade, "no-masquerade", false, "keep container addresses on outbound traffic")
	f.IntVar(&n.MTU, "mtu", 0, "MTU of the bridge and veths (default 1500)")
	f.StringVar(&n.Driver, "driver", "", "bridge (built in) or cni (the CNI plugins in /usr/lib/cni)")
	return c
}

func networkLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			nets, err := netns.ListNetworks(netOptions("network"))
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 8, 1, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tDRIVER\tSUBNET\tGATEWAY\tBRIDGE\tINTERNAL")
			for _, n := range nets {
				driver := n.Driver
				if driver == "" {
					driver = "bridge"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\n", n.Name, driver, n.Subnet, n.Gateway, n.Bridge, n.Internal)
			}
			return w.Flush()
		},
	}
}

func networkInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Print a network as JSON",
		Args:  exactArgs("a network name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := netns.GetNetwork(args[0], netOptions("network"))
			if err != nil {
				return err
			}
			return printJSON(n)
		},
	}
}

func networkRmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "rm [--force] NAME",
		Short: "Remove a network (with --force, even while containers are attached)",
		Args:  exactArgs("a network name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := netOptions("network")
			// Addresses whose container has no state dir under --root
			// any more (a runtime killed long ago, an older version's
			// leftovers) hold nothing: they do not keep the network.
			exists := func(id string) bool {
				_, err := os.Lstat(filepath.Join(g.root, id))
				return err == nil
			}
			if err := netns.GC(args[0], exists, o); err != nil && !errors.Is(err, netns.ErrNotFound) {
				return err
			}
			return netns.RemoveNetwork(args[0], force, o)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove even with containers attached")
	return c
}

func exactArgs(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("requires %s, got %d arguments", what, len(args))
		}
		return nil
	}
}
