"""Fixtures shared by coda's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home directory for a coda subprocess (tests.helpers.clean_env points
    HOME, CODA_CONFIG_DIR and CODA_DATA_DIR into it)."""
    path = tmp_path / "home"
    path.mkdir()
    return path
