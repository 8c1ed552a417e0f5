package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/miniruntime/miniruntime/netns"
	"github.com/spf13/cobra"
)

func podCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pod",
		Short: "Manage pods: network, IPC and UTS namespaces pinned for containers to share (the pause container, made visible)",
	}
	c.AddCommand(podCreateCmd(), podLsCmd(), podInspectCmd(), podRmCmd())
	return c
}

func podCreateCmd() *cobra.Command {
	var nets, ports []string
	c := &cobra.Command{
		Use:   "create [--net NETWORK]... [-p PORT]... NAME",
		Short: "Create a pod: new network, IPC and UTS namespaces (hostname NAME), lo up, attached to the networks",
		Args:  exactArgs("a pod name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pm, err := netns.ParsePortMappings(strings.Join(ports, ","))
			if err != nil {
				return err
			}
			if len(pm) > 0 && len(nets) == 0 {
				nets = []string{netns.DefaultNetworkName}
			}
			p, err := netns.CreatePod(netns.PodSpec{Name: args[0], Networks: nets, Ports: pm}, netOptions("pod"))
			if err != nil {
				return err
			}
			fmt.Printf("%s %s\n", p.Name, podAddrs(p))
			return nil
		},
	}
	f := c.Flags()
	f.StringArrayVar(&nets, "net", nil, "join this network (repeatable; the first gives the default route)")
	f.StringArrayVarP(&ports, "publish", "p", nil, "publish [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp] on the first network")
	return c
}

func podAddrs(p *netns.Pod) string {
	var s []string
	for _, a := range p.Attachments {
		s = append(s, a.Network+"="+a.IP.String())
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func podLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List pods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pods, err := netns.ListPods(netOptions("pod"))
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 8, 1, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tADDRESSES\tPROCESSES\tCREATED")
			for i := range pods {
				p := &pods[i]
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", p.Name, podAddrs(p), len(p.Users), p.Created.Format("2006-01-02T15:04:05Z"))
			}
			return w.Flush()
		},
	}
}

func podInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Print a pod as JSON: its namespaces, addresses, files and the processes inside",
		Args:  exactArgs("a pod name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := netns.GetPod(args[0], netOptions("pod"))
			if err != nil {
				return err
			}
			return printJSON(p)
		},
	}
}

func podRmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "rm [--force] NAME",
		Short: "Remove a pod (with --force, even while containers still use its namespaces)",
		Args:  exactArgs("a pod name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return netns.RemovePod(args[0], force, netOptions("pod"))
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove even while processes use the pod")
	return c
}
