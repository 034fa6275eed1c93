"""Fixtures shared by coda's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.model_server import ModelServer


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A started fake model server; the test fails if a request broke a wire invariant.

    A test that provokes violations on purpose clears `model_server.violations` itself.
    """
    with ModelServer() as server:
        yield server
        server.assert_clean()
