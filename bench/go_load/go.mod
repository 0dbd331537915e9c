module fdtrace.bench/go_load

go 1.19
