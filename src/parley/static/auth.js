// The sign-up / log-in form.

import { t } from "./i18n.js";
import { limits } from "./state.js";
import { $, setText, showView } from "./ui.js";

export class AuthForm {
  /** onSubmit(command, login, password) sends the request; returns false when offline. */
  constructor(onSubmit) {
    this.mode = "login"; // "login" | "registration": the request the form sends
    $("tab-login").addEventListener("click", () => this.setMode("login"));
    $("tab-register").addEventListener("click", () => this.setMode("registration"));
    // One stop in the Tab order for both tabs (the chosen one); the arrow keys switch.
    $("auth-tabs").addEventListener("keydown", (event) => {
      if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
      event.preventDefault();
      const mode = event.key === "ArrowLeft" || event.key === "Home" ? "login" : "registration";
      this.setMode(mode);
      $(mode === "login" ? "tab-login" : "tab-register").focus();
    });
    $("auth-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const login = $("auth-login").value.trim();
      const password = $("auth-password").value;
      if (login === "" || password === "") {
        this.error(() => t("auth.missing"));
      } else if (this.mode === "registration" && password.length < limits.min_password) {
        this.error(() => t("auth.passwordShort", { n: limits.min_password }));
      } else if (!onSubmit(this.mode, login, password)) {
        this.error(() => t("auth.notConnected"));
      } else {
        this.error("");
        $("auth-submit").disabled = true;
      }
    });
  }

  /** The form, in "Log in" mode (also after logging out of a new account); `message` as for error(). */
  show(message = "") {
    showView("auth");
    this.setMode("login");
    this.error(message);
    $("auth-login").focus();
  }

  setMode(mode) {
    this.mode = mode;
    const register = mode === "registration";
    $("tab-login").setAttribute("aria-selected", String(!register));
    $("tab-register").setAttribute("aria-selected", String(register));
    $("tab-login").tabIndex = register ? -1 : 0;
    $("tab-register").tabIndex = register ? 0 : -1;
    setText($("auth-submit"), () => (register ? t("auth.createAccount") : t("auth.logIn")));
    $("auth-password").autocomplete = register ? "new-password" : "current-password";
    $("auth-hint").hidden = !register;
    this.error("");
  }

  /** Show why the last attempt failed ("" clears it; a function follows the language). */
  error(text) {
    setText($("auth-error"), text);
    $("auth-submit").disabled = false;
  }

  /** The connection dropped: whatever was sent got no answer, so it may be sent again. */
  enable() {
    $("auth-submit").disabled = false;
  }

  /** Logged in: the password is not kept in the page. */
  done() {
    $("auth-password").value = "";
    this.error("");
  }
}
