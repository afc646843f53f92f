#!/bin/sh
# Compares msgq's two-process benchmarks with the C reference programs of
# ../shared/bench-ref. Each round runs the C program and then the Go
# benchmark for each case, so that both see about the same load; the table
# gives the median of each and the median of the per-round Go/C ratios,
# which is what to trust on a shared, noisy machine.
#
#   msgq/testdata/bench-vs-c.sh [rounds] [pin] [scale]   (defaults: 9 same 1)
#
# pin is same, cross or none, for both (PIN= for C, MSGQ_PIN= for Go);
# scale multiplies the message counts (1: 50k round trips, 200k-1M sends).
set -eu
rounds=${1:-9}
pin=${2:-same}
scale=${3:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${BENCH_REF:-$here/../../shared/bench-ref}
make -s -C "$ref" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && go test -c -o "$tmp/msgq.test" .)

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

for r in $(seq "$rounds"); do
	# message/8000: the Go side uses Messages, copying nothing, as C does.
	for s in 64 1024 8000 message/8000; do
		n=$((50000 * scale)); f=$(echo "$s" | tr / -)
		c=$(PIN=$pin "$ref/msgping" $n "${s#message/}" | sed 's/.*ns_per_rtt=//')
		g=$(MSGQ_PIN=$pin "$tmp/msgq.test" -test.run '^$' -test.bench "^BenchmarkPingPong/$s\$" -test.benchtime ${n}x |
			awk '/^BenchmarkPingPong/ {print $3}')
		echo "$c" >>"$tmp/c-ping-$f"; echo "$g" >>"$tmp/go-ping-$f"; echo "$g / $c" | bc -l >>"$tmp/r-ping-$f"
		n=$((500000 * scale)); [ "$s" = 64 ] || n=$((250000 * scale)); [ "${s#message/}" = 8000 ] && n=$((100000 * scale))
		c=$(PIN=$pin "$ref/msgstream" "${s#message/}" $n | sed 's/.*msgs_per_s=\([0-9.]*\).*/\1/')
		g=$(MSGQ_PIN=$pin "$tmp/msgq.test" -test.run '^$' -test.bench "^BenchmarkStream/$s\$" -test.benchtime ${n}x |
			awk '/^BenchmarkStream/ {for (i = 1; i < NF; i++) if ($(i+1) == "msgs/s") print $i}')
		echo "$c" >>"$tmp/c-stream-$f"; echo "$g" >>"$tmp/go-stream-$f"; echo "$g / $c" | bc -l >>"$tmp/r-stream-$f"
	done
	echo "round $r done" >&2
done

printf '%-24s %10s %10s %12s %14s\n' "pin=$pin" C Go "median Go/C" "Go/C min-max"
for k in ping stream; do
	for s in 64 1024 8000 message-8000; do
		[ -f "$tmp/r-$k-$s" ] || continue
		unit="ns/rtt"; [ $k = stream ] && unit="msg/s"
		printf '%-24s %10.0f %10.0f %12.2f %7.2f-%.2f\n' "$k $s $unit" "$(median <"$tmp/c-$k-$s")" "$(median <"$tmp/go-$k-$s")" \
			"$(median <"$tmp/r-$k-$s")" "$(sort -g "$tmp/r-$k-$s" | head -1)" "$(sort -g "$tmp/r-$k-$s" | tail -1)"
	done
done
