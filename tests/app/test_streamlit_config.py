""".streamlit/config.toml: the app's Streamlit settings, read by Streamlit as written, in line with fer_core and the Makefile."""

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from fer_core.app.photo import MAX_UPLOAD_MB
from fer_core.app.video_analysis import MAX_VIDEO_MB

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".streamlit" / "config.toml"
EXPECTED = {"server.maxUploadSize": MAX_VIDEO_MB, "server.fileWatcherType": "none",
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


def uploader_limits():
    """{page file: [the max_upload_size argument of each st.file_uploader call, as written]} of the pages."""
    limits = {}
    for page in sorted((ROOT / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "file_uploader":
                given = {keyword.arg: ast.unparse(keyword.value) for keyword in node.keywords}
                limits.setdefault(page.name, []).append(given.get("max_upload_size"))
    return limits


def test_the_server_limit_is_the_video_pages_and_every_uploader_states_its_own():
    """The server refuses bodies over MAX_VIDEO_MB; an uploader without max_upload_size would offer that."""
    assert MAX_UPLOAD_MB < MAX_VIDEO_MB == config_values()["server.maxUploadSize"]
    assert uploader_limits() == {"2_Photo.py": ["MAX_UPLOAD_MB"], "6_Video.py": ["MAX_VIDEO_MB"]}


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
