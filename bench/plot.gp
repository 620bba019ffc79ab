# SPDX-License-Identifier: GPL-2.0
#
# The plots of bench/results/ from its CSV files (run 1 of each benchmark).
#   gnuplot -e "dir='bench/results'" bench/plot.gp

if (!exists("dir")) dir = 'bench/results'
set datafile separator ","
set terminal svg size 900,480 dynamic noenhanced font "sans,12" background rgb "white"
set grid
set key top left

# Rows of run 1 of FILE whose column COL is VALUE (no header).
rows(file, col, value) = sprintf("< awk -F, '$1 == 1 && $%d == \"%s\"' %s/%s", col, value, dir, file)

# 1. Shadow-stack commit per thread, by sizing, vs number of threads.
set output dir."/commit.svg"
set title "Shadow-stack commit per thread (8 MiB normal stacks)"
set xlabel "threads alive"
set ylabel "KiB per thread (log)"
set logscale xy
set xrange [0.7:1500]
set yrange [16:32768]
plot rows("commit.csv", 3, "kernel") using 2:6 with linespoints lw 2 pt 7 title "kernel rule", \
     rows("commit.csv", 3, "ratio-64") using 2:6 with linespoints lw 2 pt 5 title "RATIO 64 policy", \
     rows("commit.csv", 3, "fixed-64K") using 2:6 with linespoints lw 2 pt 9 title "FIXED 64 KiB policy"
unset logscale
unset xrange
unset yrange

# 2. create+join latency per case: median and p99.
set output dir."/latency.svg"
set title "pthread_create + pthread_join, 8 MiB stacks (guest time, 10,000 iterations)"
set xlabel ""
set ylabel "microseconds"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set key outside top center horizontal
set xtics rotate by -15
lat = sprintf("< awk -F, '$1 == 1' %s/latency.csv", dir)
plot lat using ($4 / 1000.0):xtic(2) title "median", \
     lat using ($5 / 1000.0) title "p99"
unset style
unset xtics
set xtics
set style data lines
unset yrange

# 3. USAGE cost: flat in the shadow-stack size, linear in the depth used.
set output dir."/usage.svg"
set terminal svg size 1000,420 dynamic noenhanced font "sans,12" background rgb "white"
set multiplot layout 1,2 title "SHSTK_IOC_USAGE of another thread (guest time, median of 2000 calls)"
set title "vs shadow-stack size (4 KiB used)"
set xlabel "shadow-stack size, KiB (log)"
set ylabel "microseconds per call"
set logscale x
set yrange [0:*]
set key off
plot rows("usage.csv", 2, "size") using 3:($7 / 1000.0) with linespoints lw 2 pt 7
set title "vs depth used (8 MiB shadow stack)"
set xlabel "peak depth, KiB"
unset logscale x
plot rows("usage.csv", 2, "depth") using ($5 / 1024.0):($7 / 1000.0) with linespoints lw 2 pt 7
unset multiplot
