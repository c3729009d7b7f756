# gnuplot -e "dat='RESULT.cdf.dat'; out='RESULT.png'; title='...'" plot.gp
# The share of nodes that have a block (header; full, validated block) against
# seconds since it was mined, median over the blocks of the best chain; the
# points are the 2014 Bitcoin measurement (bitcoinstats.com, Decker and
# Wattenhofer's method: first announcement seen, 250 kB-class blocks).
if (!exists("title")) title = "cairn-sim: block propagation"
set terminal pngcairo size 900,560 noenhanced
set output out
set title title
set xlabel "seconds since the block was mined"
set ylabel "nodes that have it (%)"
set logscale x
set xrange [0.01:200]
set yrange [0:100]
set grid
set key bottom right
$ref << EOD
3.3 50
13.5 90
25 95
100.5 99
EOD
plot dat using 2:1 with lines lw 2 title "header", \
     dat using 3:1 with lines lw 2 title "full block (validated)", \
     $ref using 1:2 with linespoints pt 7 ps 1.4 title "Bitcoin 2014 (bitcoinstats.com)"
