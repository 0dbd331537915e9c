"""pytest-fdtrace: the plugin is pytest_fdtrace.plugin (entry point pytest11 "fdtrace")."""
