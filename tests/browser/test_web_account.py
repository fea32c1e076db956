"""The account dialog in a real browser: a new password, and logging out everywhere."""

from __future__ import annotations

from collections.abc import Callable

from .browser_support import PASSWORD, Person, expect

NEW_PASSWORD = "a new horse staple"


def _same_session_elsewhere(person: Person, other: Person) -> None:
    """``other`` logs in by ``person``'s token, as a second device of the same session."""
    token = person.page.evaluate("() => localStorage.getItem('parley.token')")
    other.page.evaluate("(token) => localStorage.setItem('parley.token', token)", token)
    other.page.reload()


def test_log_out_everywhere(people: Callable[..., Person], unique: Callable[[str], str]) -> None:
    laptop, phone, tablet = people(), people(), people()
    name = unique("gina")
    laptop.register(name)
    phone.log_in(name)
    _same_session_elsewhere(laptop, tablet)
    expect(tablet.page.locator("#me-name")).to_have_text(name)

    laptop.page.get_by_role("button", name="Account").click()
    laptop.page.get_by_role("button", name="Log out everywhere").click()
    expect(laptop.page.locator("#auth-form")).to_be_visible()
    expect(laptop.page.locator("#auth-error")).to_have_text("You logged out on every device.")
    assert laptop.page.evaluate("() => localStorage.getItem('parley.token')") is None
    # The other devices, whatever their session, are asked to log in again.
    for device in (phone, tablet):
        expect(device.page.locator("#auth-form")).to_be_visible()
        expect(device.page.locator("#auth-error")).to_have_text(
            "Your session has ended. Please log in again.")
    phone.log_in(name)
    expect(phone.page.locator("#chat-name")).to_have_text("general")


def test_change_password(people: Callable[..., Person], unique: Callable[[str], str]) -> None:
    laptop, phone = people(), people()
    name = unique("hank")
    laptop.register(name)
    phone.log_in(name)
    page = laptop.page
    page.get_by_role("button", name="Account").click()

    # Refusals, each explained in the dialog.
    page.fill("#account-old", PASSWORD)
    page.fill("#account-new", "short")
    page.locator("#account-submit").click()
    expect(page.locator("#account-error")).to_have_text(
        "The new password must be at least 8 characters long.")
    page.fill("#account-old", "not the password")
    page.fill("#account-new", NEW_PASSWORD)
    page.locator("#account-submit").click()
    expect(page.locator("#account-error")).to_have_text("The current password is wrong.")
    expect(phone.page.locator("#me-name")).to_have_text(name)

    page.fill("#account-old", PASSWORD)
    page.fill("#account-new", NEW_PASSWORD)
    page.locator("#account-submit").click()
    expect(page.locator("#account-dialog")).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text(
        "Your password was changed. Your other devices were logged out.")
    # This page stays logged in, on the new token, also after a reload.
    page.reload()
    expect(page.locator("#me-name")).to_have_text(name)
    laptop.say("still here")
    expect(laptop.message_with_text("still here")).to_have_count(1)

    # The phone is logged out, and only the new password works.
    expect(phone.page.locator("#auth-form")).to_be_visible()
    expect(phone.page.locator("#auth-error")).to_have_text(
        "Your session has ended. Please log in again.")
    phone.page.fill("#auth-login", name)
    phone.page.fill("#auth-password", PASSWORD)
    phone.page.locator("#auth-submit").click()
    expect(phone.page.locator("#auth-error")).to_have_text("Wrong name or password.")
    phone.log_in(name, NEW_PASSWORD)
