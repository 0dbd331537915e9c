import os

import pytest


@pytest.fixture(scope="module")
def leaky_module_fixture():
    f = open(os.devnull)  # LEAK(module-fixture)
    yield f
    # Its teardown forgets to close f: the fixture's leak, found after it.


def test_uses_leaky_fixture(leaky_module_fixture):
    assert not leaky_module_fixture.closed
