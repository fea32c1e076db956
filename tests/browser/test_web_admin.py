"""A disabled account in a real browser: the page loses its session when ``parley admin
disable`` closes its socket, and a login says the account is disabled, in words."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from parley.testing import ServerProcess

from .browser_support import PASSWORD, Person, expect

PARLEY = Path(sys.executable).parent / "parley"


def test_a_disabled_account_is_told_so(
    people: Callable[..., Person], own_server: ServerProcess, unique: Callable[[str], str]
) -> None:
    server = own_server.start()
    name = unique("mallory")
    person = people(url=server.http).register(name)
    done = subprocess.run([str(PARLEY), "admin", "--data-dir", str(server.data_dir),
                           "disable", name], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    page = person.page
    # the socket closed (4003); the saved token, revoked, no longer logs in
    expect(page.locator("#auth-form")).to_be_visible()
    expect(page.locator("#auth-error")).to_have_text(
        "Your session has ended. Please log in again.")
    page.get_by_role("tab", name="Log in").click()
    page.fill("#auth-login", name)
    page.fill("#auth-password", PASSWORD)
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-error")).to_have_text(
        "This account is disabled. Ask the server's administrator.")
    done = subprocess.run([str(PARLEY), "admin", "--data-dir", str(server.data_dir),
                           "enable", name], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    person.log_in(name)
