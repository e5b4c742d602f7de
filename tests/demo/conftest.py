import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass
