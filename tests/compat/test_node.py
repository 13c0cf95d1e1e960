"""Microsoft's JavaScript libraries (msal-node, microsoft-graph-client) against the simulator.

Each check in node/checks.cjs runs in its own node process and counts as one test here.
"""

import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

CHECKS = Path(__file__).parent / "node" / "checks.cjs"


def check_names():
    listed = subprocess.run(
        ["node", CHECKS, "--list"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


@pytest.mark.parametrize("name", check_names())
def test_node(sim, control, name):
    """`control` puts back whatever a check changed through the control API."""
    environment = {**os.environ, "ROSTER_SIM": json.dumps(asdict(sim))}
    result = subprocess.run(
        ["node", CHECKS, name], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
