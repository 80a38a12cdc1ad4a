"""Shared fixtures for estimation tests."""

from __future__ import annotations

import pandas as pd
import pytest
from estimation_helpers import wang_data


@pytest.fixture(scope="session")
def wang() -> pd.DataFrame:
    return wang_data()
