module fdtrace.bench/go_http

go 1.19
