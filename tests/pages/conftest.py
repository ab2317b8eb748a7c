"""Page tests see an uncaught error in full: .streamlit/config.toml, which AppTest reads from the
repository root, redacts it for users (client.showErrorDetails = "none")."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _full_error_details():
    from streamlit import config

    config.set_option("client.showErrorDetails", "full")
