""".streamlit/config.toml: the app's Streamlit settings, read by Streamlit as written, in line with fer_core and the Makefile."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from fer_core.app.photo import MAX_UPLOAD_MB

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".streamlit" / "config.toml"
EXPECTED = {"server.maxUploadSize": MAX_UPLOAD_MB, "server.fileWatcherType": "none",
            "client.showErrorDetails": "none", "client.toolbarMode": "viewer", "browser.gatherUsageStats": False}

READ_BY_STREAMLIT = """
import json, sys
from streamlit import config
config.get_config_options(force_reparse=True)
keys = json.loads(sys.argv[1])
print(json.dumps({key: [config.get_option(key), config.get_where_defined(key)] for key in keys}))
"""


def config_values():
    """config.toml as {"section.option": value}."""
    with open(CONFIG, "rb") as file:
        sections = tomllib.load(file)
    return {f"{section}.{name}": value for section, options in sections.items() for name, value in options.items()}


def test_config_sets_the_upload_limit_of_fer_core_and_quiet_safe_defaults():
    assert config_values() == EXPECTED


def test_streamlit_reads_every_value_from_the_file(tmp_path):
    """Run where `make run` runs (the repository root), with an empty home (no user config.toml)."""
    done = subprocess.run([sys.executable, "-c", READ_BY_STREAMLIT, json.dumps(list(EXPECTED))], cwd=ROOT,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert {key: value for key, (value, _) in seen.items()} == EXPECTED  # a misspelt key keeps its default
    assert {where for _, where in seen.values()} == {str(CONFIG)}


def test_error_details_are_hidden_from_users():
    from streamlit.config import ShowErrorDetailsConfigOptions as Details

    # In Streamlit 1.67 `false` still shows tracebacks ("stacktrace"); only "none" hides them and the type.
    assert Details(config_values()["client.showErrorDetails"]) is Details.NONE


def test_make_run_flags_agree_with_the_config():
    """The Makefile's flags override config.toml: none may set an option to another value."""
    makefile = (ROOT / "Makefile").read_text()
    run = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    flags = dict(re.findall(r"--([a-zA-Z]+\.[a-zA-Z]+) (\S+)", run))
    assert "server.port" in flags and "browser.gatherUsageStats" in flags  # the target was read
    values = config_values()
    for key, flag in flags.items():
        if key in values:
            assert flag == json.dumps(values[key]).strip('"'), (key, flag, values[key])
