package complete

// Shells are the shells Script has a script for.
var Shells = []string{"bash", "zsh", "fish"}

// Script returns the completion script for shell, or false. Each script
// asks the binary for the words (FlagName protocol), for "ipc" and for the
// names ipcs, ipcrm, ipcmk and lsipc only where the command of that name
// is this same binary: util-linux's own tools act on whatever they are
// given, and ipcrm removes an object named before an unknown option, so
// they must never be asked.
func Script(shell string) (string, bool) {
	s, ok := scripts[shell]
	return s, ok
}

var scripts = map[string]string{
	"bash": `# bash completion for ipc: source <(ipc completion bash)
# Asks the binary for the words (it only lists them, it never acts).
_ipc_same() {
	local a b
	a=$(readlink -f "$(type -P "$1")" 2>/dev/null) && b=$(readlink -f "$(type -P ipc)" 2>/dev/null) &&
		[ -n "$a" ] && [ "$a" = "$b" ]
}
_ipc_complete() {
	local prog="${COMP_WORDS[0]}" words
	COMPREPLY=()
	case "${prog##*/}" in
	ipcs|ipcrm|ipcmk|lsipc) _ipc_same "$prog" || return 0 ;;
	esac
	words=$("$prog" "${COMP_WORDS[@]:1:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$words" -- "${COMP_WORDS[COMP_CWORD]}"))
	return 0
}
complete -o bashdefault -o default -F _ipc_complete ipc
for _ipc_tool in ipcs ipcrm ipcmk lsipc; do
	_ipc_same "$_ipc_tool" && complete -o bashdefault -o default -F _ipc_complete "$_ipc_tool"
done
unset _ipc_tool
`,
	"zsh": `#compdef ipc
# zsh completion for ipc: ipc completion zsh > "${fpath[1]}/_ipc"
# Asks the binary for the words (it only lists them, it never acts).
_ipc_same() {
	local a=${commands[$1]:A} b=${commands[ipc]:A}
	[[ -n $a && $a == $b ]]
}
_ipc() {
	local prog=${words[1]}
	case ${prog:t} in
	ipcs|ipcrm|ipcmk|lsipc) _ipc_same ${prog:t} || return 1 ;;
	esac
	local -a opts
	opts=("${(@f)$($prog "${(@)words[2,CURRENT]}" --generate-bash-completion 2>/dev/null)}")
	if [[ -n ${opts[1]} ]]; then
		compadd -a opts
	else
		_files
	fi
}
if [[ $funcstack[1] == _ipc ]]; then
	_ipc "$@"
else
	compdef _ipc ipc
	for _ipc_tool in ipcs ipcrm ipcmk lsipc; do
		_ipc_same $_ipc_tool && compdef _ipc $_ipc_tool
	done
	unset _ipc_tool
fi
`,
	"fish": `# fish completion for ipc: ipc completion fish > ~/.config/fish/completions/ipc.fish
# Asks the binary for the words (it only lists them, it never acts).
function __ipc_same
    set -l a (realpath (command -v $argv[1]) 2>/dev/null)
    set -l b (realpath (command -v ipc) 2>/dev/null)
    test -n "$a" -a "$a" = "$b"
end
function __ipc_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    switch (basename $tokens[1])
        case ipcs ipcrm ipcmk lsipc
            __ipc_same (basename $tokens[1]); or return
    end
    $tokens[1] $tokens[2..-1] "$cur" --generate-bash-completion 2>/dev/null
end
complete -c ipc -f -a '(__ipc_complete)'
for tool in ipcs ipcrm ipcmk lsipc
    if __ipc_same $tool
        complete -c $tool -f -a '(__ipc_complete)'
    end
end
`,
}
