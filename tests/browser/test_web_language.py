"""The web client in the browser's language: Russian for a Russian browser, English for an
English one, and a switch between them that is remembered (static/i18n.js, locales/)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .browser_support import PASSWORD, Person, expect

PHONE = {"width": 390, "height": 844}
MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
# Another person in the chat, on a WebSocket of its own opened from the page (lighter than
# a browser context each): registers, then chooses the chat, which makes it online there.
JOIN_AS = """
async ([name, password, chat]) => {
  const socket = new WebSocket(`ws://${location.host}/ws`);
  const answer = (command) => new Promise((resolve) => {
    socket.addEventListener("message", function listen(event) {
      const frame = JSON.parse(event.data);
      if (frame.Command === command) {
        socket.removeEventListener("message", listen);
        resolve(frame);
      }
    });
  });
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
  let replied = answer("registration");
  const request = { Type: "account", Command: "registration", Login: name, Password: password };
  socket.send(JSON.stringify(request));
  if ((await replied).Status !== "success") throw new Error("registration refused");
  replied = answer("choice");
  socket.send(JSON.stringify({ Type: "chat", Command: "choice", Chat: chat }));
  await replied;
  (window.__others = window.__others || []).push(socket);
}
"""


def register_in_russian(person: Person, name: str) -> None:
    page = person.page
    page.get_by_role("tab", name="Регистрация").click()
    page.fill("#auth-login", name)
    page.fill("#auth-password", PASSWORD)
    page.get_by_role("button", name="Создать аккаунт").click()
    expect(page.locator("#me-name")).to_have_text(name)


def create_chat_in_russian(person: Person, name: str) -> None:
    page = person.page
    page.get_by_role("button", name="+ Новый чат").click()
    expect(page.locator("#create-dialog h2")).to_have_text("Новый чат")
    page.fill("#create-name", name)
    page.get_by_role("button", name="Создать", exact=True).click()
    expect(page.locator("#chat-name")).to_have_text(name)


def no_sideways_scrolling(person: Person) -> None:
    width = person.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


def test_a_russian_browser_gets_the_interface_in_russian_with_plural_forms(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    me = people(locale="ru-RU")
    page = me.page
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("tab", name="Войти")).to_be_visible()
    expect(page.locator("#tab-register")).to_have_text("Регистрация")
    expect(page.locator("#auth-submit")).to_have_text("Войти")
    expect(page.locator("#auth-form .field span")).to_have_text(["Имя", "Пароль"])
    expect(page.locator("#auth-language")).to_have_value("ru")
    page.get_by_role("tab", name="Регистрация").click()
    expect(page.locator("#auth-submit")).to_have_text("Создать аккаунт")
    expect(page.locator("#auth-hint")).to_contain_text("не менее 8 символов")
    # Refused before sending, in Russian, with the number in the right form.
    page.fill("#auth-login", unique("kratko"))
    page.fill("#auth-password", "short")
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-error")).to_have_text("Пароль должен быть не короче 8 символов.")

    name = unique("anna")
    register_in_russian(me, name)
    expect(page.get_by_role("button", name="Аккаунт")).to_be_visible()
    expect(page.get_by_role("button", name="Выйти")).to_be_visible()
    expect(page.locator("#app-language")).to_have_value("ru")
    room = unique("komnata")
    create_chat_in_russian(me, room)
    expect(me.chat_button(room).locator(".chat-owner")).to_have_text("владелец")
    expect(page.locator("#text-input")).to_have_attribute("placeholder", "Сообщение…")
    expect(page.locator("#send")).to_have_text("Отправить")

    # Who is online, counted in Russian: 1 человек, 2 человека, 5 человек.
    toggle = page.locator("#online-toggle")
    expect(toggle).to_have_text("1 человек в сети")
    page.evaluate(JOIN_AS, [unique("boris"), PASSWORD, room])
    expect(toggle).to_have_text("2 человека в сети")
    for other in ("vera", "gleb", "dina"):
        page.evaluate(JOIN_AS, [unique(other), PASSWORD, room])
    expect(toggle).to_have_text("5 человек в сети")
    expect(page.locator("#online-list li")).to_have_count(5)

    me.say("Привет всем")
    expect(me.message_with_text("Привет всем")).to_have_count(1)
    expect(page.locator("#message-list .day-separator")).to_have_text(["Сегодня"])
    stamp = page.locator("#message-list .msg-time").first
    sent = datetime.fromisoformat(stamp.get_attribute("datetime").replace("Z", "+00:00"))
    local = sent.astimezone()  # the browser runs on this machine's time zone
    expect(stamp).to_have_attribute(
        "title", re.compile(rf"\b{local.day} {MONTHS_GENITIVE[local.month - 1]} {local.year}\b")
    )
    me.screenshot("language-ru-desktop")

    # Offline: the banner in Russian, and in English once switched (the catalogue is at hand).
    page.context.set_offline(True)
    banner = page.locator("#banner")
    expect(banner).to_contain_text("Нет подключения к сети")
    page.locator("#app-language").select_option("en")
    expect(banner).to_have_text(
        "You are offline. Parley will reconnect as soon as the network is back."
    )
    expect(toggle).to_have_text("5 online")
    expect(page.locator("#message-list .day-separator")).to_have_text(["Today"])
    page.context.set_offline(False)
    expect(banner).to_be_hidden()


def test_dates_follow_the_language_and_the_switch_is_remembered(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    # The page's clock runs two days ahead: today's messages are shown under their date.
    ahead = datetime.now(UTC) + timedelta(days=2)
    me = people(locale="ru-RU", timezone_id="UTC")
    page = me.page
    page.clock.set_fixed_time(ahead)
    page.reload()
    name = unique("olga")
    register_in_russian(me, name)
    room = unique("daty")
    create_chat_in_russian(me, room)
    me.say("вчерашнее")
    expect(me.message_with_text("вчерашнее")).to_have_count(1)
    stamp = page.locator("#message-list .msg-time").first
    sent = datetime.fromisoformat(stamp.get_attribute("datetime").replace("Z", "+00:00"))
    month = MONTHS_GENITIVE[sent.month - 1]
    divider = page.locator("#message-list .day-separator")
    expect(divider).to_have_text([f"{sent.day} {month} {sent.year} г."])  # noqa: RUF001
    expect(stamp).to_have_text(
        re.compile(rf"^{sent.day}\s[^\s,]+,\s0?{sent.hour}:{sent.minute:02d}$")
    )

    # To English without a reload: the page draws itself again.
    page.locator("#app-language").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    english_day = f"{sent.strftime('%B')} {sent.day}, {sent.year}"
    expect(divider).to_have_text([english_day])
    expect(page.locator("#online-toggle")).to_have_text("1 online")
    expect(page.get_by_role("button", name="+ New chat")).to_be_visible()
    expect(page.locator("#text-input")).to_have_attribute("placeholder", "Write a message…")
    expect(me.chat_button(room).locator(".chat-owner")).to_have_text("owner")

    # Remembered: after a reload the Russian browser still shows English.
    page.reload()
    expect(page.locator("#me-name")).to_have_text(name)
    expect(page.locator("#chat-name")).to_have_text(room)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#app-language")).to_have_value("en")
    expect(divider).to_have_text([english_day])
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # And back: a message refused before sending is shown again in the new language.
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#auth-language")).to_have_value("en")
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-error")).to_have_text("Enter a name and a password.")
    page.locator("#auth-language").select_option("ru")
    expect(page.locator("#auth-error")).to_have_text("Введите имя и пароль.")
    expect(page.locator("#tab-login")).to_have_text("Войти")


def test_an_english_browser_gets_english(people: Callable[..., Person]) -> None:
    page = people(locale="en-US").page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("tab", name="Log in")).to_be_visible()
    expect(page.locator("#tab-register")).to_have_text("Sign up")
    expect(page.locator("#auth-language")).to_have_value("en")


def test_the_russian_interface_fits_a_phone(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    phone = people(viewport=PHONE, locale="ru-RU")
    page = phone.page
    expect(page.locator("#tab-register")).to_have_text("Регистрация")
    # A protocol status, put in Russian words (statuses.js).
    page.fill("#auth-login", unique("nikto"))
    page.fill("#auth-password", PASSWORD)
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-error")).to_have_text("Неверное имя или пароль.")
    no_sideways_scrolling(phone)
    phone.screenshot("language-ru-phone-login")
    register_in_russian(phone, unique("pavel"))
    # On a phone the chat restored after logging in stays behind the list.
    expect(page.locator("#app-language")).to_be_visible()
    no_sideways_scrolling(phone)
    phone.screenshot("language-ru-phone-chats")
    phone.chat_button("general").click()
    expect(page.locator("#composer")).to_be_visible()
    expect(page.get_by_role("button", name="Назад к чатам")).to_be_visible()
    text = "Сообщение с телефона"  # noqa: RUF001
    phone.say(text)
    expect(phone.message_with_text(text)).to_have_count(1)
    no_sideways_scrolling(phone)
    phone.screenshot("language-ru-phone-chat")
