# The benchmark plot scripts/bench.sh writes to docs/benchmarks.svg (SVG on stdout).
# Variables: plain, hardened (runtime-bench --samples CSVs: variant,percentile,ms),
# egress (egress-bench --csv: path,connections,...,p99_added_ms), title.
set terminal svg size 1200,480 dynamic enhanced font "sans,11" background "white"
set datafile separator ","
set multiplot layout 1,2 title title
set key bottom right
set grid
set title "Start of a container running true (runtime-bench)"
set xlabel "start time (ms)"
set ylabel "percentile of starts"
set yrange [0:100]
pick(v) = strcol(1) eq v ? $3 : NaN
plot for [v in "crun runc openshell"] plain using (pick(v)):2 with lines linewidth 2 title v, \
     for [v in "openshell-hook-true openshell-embedded openshell-service"] hardened \
       using (pick(v)):2 with lines linewidth 2 dashtype 2 title "hardened, ".v
set title "What the egress engine adds, against load (egress-bench)"
set xlabel "concurrent connections"
set ylabel "added p99 latency (ms)"
set logscale x 2
set autoscale y
set key top left
added(p) = strcol(1) eq p ? $7 : NaN
plot for [p in "plain-http decided-api-call connect-tunnel intercepted-tls"] egress \
  using (strcol(1) eq p ? $2 : NaN):(added(p)) with linespoints linewidth 2 title p
unset multiplot
