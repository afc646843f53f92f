#!/bin/bash
# peers.sh: ipc serve's HTTP rate and CPU cost next to its peers', on
# loopback, in one run (these machines drift 30% between runs: compare
# within a run, never across).
#
#	internal/bench/peers/peers.sh [-r ROUNDS] [-s SECONDS] [-c CONNECTIONS] [SERVER...]
#
# Every server answers GET / with the same 20-byte text/plain body, with
# 2 workers where it has workers. For each round, each server in turn is
# started, loaded with wrk -t1 on kept-alive connections and then with a
# new connection per request (Connection: close), and stopped; the table
# gives medians over the rounds: requests/s, the ratio to net/http and
# to nginx, and the CPU time (user + system, of every process of the
# server, including the children it reaped) per request.
#
# Servers (default: all that can run here):
#	nethttp            one Go process, net/http (internal/bench/peers/nethttp)
#	nginx              nginx, 2 worker processes, "return 200"
#	fasthttp-prefork   fasthttp's own prefork (examples/fasthttp/prefork-peer)
#	prefork hold shared reuseport pass fork
#	                   ipc serve --handler http in that design
#	                   (hold, shared: --accept hold/shared)
#	fasthttp-example fasthttp-example-reuseport
#	                   fasthttp inside ipc workers (examples/fasthttp)
#
# Needs go, wrk and curl; nginx for nginx (Debian: apt-get install wrk curl
# nginx-light). Run it from the repository's root or anywhere inside it.
set -u -o pipefail

# usage prints the comment above, the script's manual.
usage() { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; }

rounds=3 secs=5 conns=32
while getopts r:s:c:h opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	s) secs=$OPTARG ;;
	c) conns=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
for v in "$rounds" "$secs" "$conns"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: -r, -s and -c take a positive number, not \"$v\"" >&2; exit 2; }
done
for tool in go wrk curl; do
	command -v $tool >/dev/null || { echo "peers.sh: needs $tool (apt-get install wrk curl; go from go.dev)" >&2; exit 1; }
done

all="nethttp nginx fasthttp-prefork prefork hold shared reuseport pass fork fasthttp-example fasthttp-example-reuseport"
servers=${*:-$all}
if [[ -z ${*:-} ]] && ! command -v nginx >/dev/null; then
	echo "peers.sh: no nginx here (apt-get install nginx-light): leaving it out" >&2
	servers=${servers/nginx /}
fi
for s in $servers; do
	[[ " $all " == *" $s "* ]] || { echo "peers.sh: no server \"$s\"; these are: $all" >&2; exit 2; }
done

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || exit 1
tmp=$(mktemp -d)
server=""
stop() {
	[[ -n $server ]] || return 0
	kill -TERM -- -"$server" 2>/dev/null
	wait "$server" 2>/dev/null
	# nginx's workers, or a fork child, may outlive the leader by a moment.
	for _ in $(seq 50); do pgrep -s "$server" >/dev/null || break; sleep 0.1; done
	pkill -KILL -s "$server" 2>/dev/null
	server=""
}
trap 'stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

echo "building into $tmp" >&2
(cd "$root" && go build -o "$tmp/ipc" ./cmd/ipc && go build -o "$tmp/nethttp" ./internal/bench/peers/nethttp) || exit 1
if [[ " $servers " == *" fasthttp-"* ]]; then
	(cd "$root/examples/fasthttp" && go build -o "$tmp/fasthttp-example" . && go build -o "$tmp/prefork-peer" ./prefork-peer) || exit 1
fi

# A private IPC namespace for the servers that make System V objects, when
# this user may have one; otherwise they make and remove theirs in the
# machine's.
ns=()
unshare --ipc true 2>/dev/null && ns=(unshare --ipc)

# free_port is a loopback port nothing listens on, below the ephemeral
# range (32768 and up by default), where wrk's own ends of the last
# server's connections, in TIME_WAIT, would make the bind fail.
free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo $p; return; }
	done
}

# launch starts server $1 on port $2 in a session of its own, whose id is
# the leader's pid, left in $server.
launch() {
	local s=$1 p=$2 ipc=(--addr "127.0.0.1:$p" --workers 2 --handler http --state-dir "$tmp/state-$s")
	local cmd
	case $s in
	nethttp) cmd=("$tmp/nethttp" "127.0.0.1:$p") ;;
	nginx)
		cat >"$tmp/nginx.conf" <<-EOF
			worker_processes 2; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
			events { worker_connections 4096; }
			http { access_log off; server { listen 127.0.0.1:$p;
			  location / { default_type "text/plain; charset=utf-8"; return 200 "hello from worker 0\n"; } } }
		EOF
		cmd=(nginx -c "$tmp/nginx.conf") ;;
	fasthttp-prefork) cmd=("$tmp/prefork-peer" "127.0.0.1:$p") ;;
	prefork) cmd=("${ns[@]}" "$tmp/ipc" serve "${ipc[@]}") ;;
	hold | shared) cmd=("${ns[@]}" "$tmp/ipc" serve "${ipc[@]}" --accept "$s") ;;
	reuseport | pass) cmd=("${ns[@]}" "$tmp/ipc" serve "${ipc[@]}" --mode "$s") ;;
	fork) cmd=("${ns[@]}" "$tmp/ipc" serve --addr "127.0.0.1:$p" --handler http --mode fork --state-dir "$tmp/state-$s") ;;
	fasthttp-example) cmd=("${ns[@]}" "$tmp/fasthttp-example" -addr "127.0.0.1:$p" -workers 2 -state-dir "$tmp/state-$s") ;;
	fasthttp-example-reuseport) cmd=("${ns[@]}" "$tmp/fasthttp-example" -addr "127.0.0.1:$p" -workers 2 -mode reuseport -state-dir "$tmp/state-$s") ;;
	esac
	setsid "${cmd[@]}" >>"$tmp/$s.log" 2>&1 &
	server=$!
	for _ in $(seq 100); do
		curl -fs -o /dev/null "http://127.0.0.1:$p/" && return 0
		sleep 0.05
	done
	echo "peers.sh: $s did not answer on port $p; its log:" >&2
	tail -5 "$tmp/$s.log" >&2
	stop
	return 1
}

# cpu_ticks is the CPU time, in clock ticks, of every process in session
# $1 and of the children they reaped (utime stime cutime cstime).
cpu_ticks() {
	local t=0 f
	for q in $(pgrep -s "$1"); do
		f=$(cut -d')' -f2 "/proc/$q/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13} + ${14} + ${15}))
	done
	echo $t
}

hz=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
	for s in $servers; do
		p=$(free_port)
		launch "$s" "$p" || continue
		for mode in keepalive close; do
			hdr=()
			[[ $mode == close ]] && hdr=(-H "Connection: close")
			c0=$(cpu_ticks "$server")
			out=$(wrk -t1 -c"$conns" -d"${secs}s" "${hdr[@]}" "http://127.0.0.1:$p/" 2>&1)
			c1=$(cpu_ticks "$server")
			rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
			n=$(awk '/requests in/ {print $1}' <<<"$out")
			bad=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
			[[ -n $bad ]] && echo "peers.sh: round $r, $s, $mode: $bad" >&2
			[[ -n $rps && ${n:-0} -gt 0 ]] || { echo "peers.sh: round $r, $s, $mode: wrk said: $out" >&2; continue; }
			us=$(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$hz" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
			echo "$mode $s $rps $us" >>"$tmp/raw"
			echo "round $r/$rounds: $s $mode $rps req/s, $us us/req" >&2
		done
		stop
	done
done
[[ -s $tmp/raw ]] || { echo "peers.sh: nothing measured" >&2; exit 1; }

# median MODE SERVER COLUMN: the median of that column over the rounds.
median() {
	awk -v m="$1" -v s="$2" '$1 == m && $2 == s {print $'"$3"'}' "$tmp/raw" | sort -g |
		awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

echo "wrk -t1 -c$conns, $rounds rounds of $secs s, medians; CPU: every process of the server"
for mode in keepalive close; do
	[[ $mode == keepalive ]] && echo "kept-alive connections" || echo "a new connection per request"
	base=$(median $mode nethttp 3) ngx=$(median $mode nginx 3)
	printf '  %-28s %9s %8s %8s %10s\n' server req/s x.nethttp x.nginx "CPU us/req"
	for s in $servers; do
		v=$(median $mode "$s" 3)
		[[ -n $v ]] || continue
		printf '  %-28s %9.0f %8s %8s %10s\n' "$s" "$v" \
			"$([[ -n $base ]] && awk -v a="$v" -v b="$base" 'BEGIN {printf "%.2f", a / b}')" \
			"$([[ -n $ngx ]] && awk -v a="$v" -v b="$ngx" 'BEGIN {printf "%.2f", a / b}')" \
			"$(median $mode "$s" 4)"
	done
done
