module fdtrace/fixtures/gosymbols

go 1.19
