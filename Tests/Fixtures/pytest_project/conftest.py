# The pytest plugin's test project (Tests/IntegrationTests/PytestPluginTests.swift):
# lines marked LEAK(name) are where the descriptors fdtrace must name are opened.
import os
import tempfile

import pytest


@pytest.fixture(scope="session")
def shared_log():
    # A session fixture's file: the fixture's, not the first test's that used it.
    path = os.path.join(tempfile.gettempdir(), "fdtrace-pytest-shared-%d.log" % os.getpid())
    f = open(path, "w")  # LEAK(session-fixture)
    yield f
    f.close()
    os.unlink(path)
