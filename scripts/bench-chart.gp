# Bar chart of the bench's median ratios (scripts/bench-report writes the
# data: workload, ours/c, ours/linear, per line). Call with
#   gnuplot -e "datafile='...'; outfile='...'" scripts/bench-chart.gp
set terminal png size 900,480
set output outfile
set title "rust-dm-logwrites: median throughput ratios (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set offsets 0, 0, 0.15, 0
set ylabel "ratio"
set xtics rotate by -20 noenhanced
set key below
set grid ytics
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 2
plot datafile using 2:xtic(1) title "ours / C", '' using 3 title "ours / linear"
