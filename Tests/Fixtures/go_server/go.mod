module fdtrace/fixtures/goserver

go 1.19
