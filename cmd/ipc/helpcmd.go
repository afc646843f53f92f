package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash or zsh",
		UsageText: "ipc completion bash|zsh",
		Description: `EXAMPLES:
   source <(ipc completion bash)
   ipc completion zsh > "${fpath[1]}/_ipc"`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion: want one shell: bash or zsh")
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return usagef("completion: unknown shell %q: want bash or zsh", c.Args().First())
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}, &cli.Command{
		Name:      "man",
		Usage:     "print the manual page (roff), made from the command definitions",
		UsageText: "ipc man | man -l -",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	})
}

// completionScripts ask the binary itself for the words that may follow,
// through urfave/cli's --generate-bash-completion, so they never go stale.
var completionScripts = map[string]string{
	"bash": `# bash completion for ipc; source <(ipc completion bash)
_ipc_complete() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	if [[ "$cur" == "-"* ]]; then
		words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
	return 0
}
complete -o bashdefault -o default -F _ipc_complete ipc
`,
	"zsh": `#compdef ipc
# zsh completion for ipc; ipc completion zsh > "${fpath[1]}/_ipc"
_ipc() {
	local -a opts
	local cur
	cur=${words[-1]}
	if [[ "$cur" == "-"* ]]; then
		opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
	else
		opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
	fi
	if [[ "${opts[1]}" != "" ]]; then
		_describe 'values' opts
	else
		_files
	fi
}
if [ "$funcstack[1]" = "_ipc" ]; then
	_ipc "$@"
else
	compdef _ipc ipc
fi
`,
}
