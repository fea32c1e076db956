// The account dialog: a new password, and logging out on every device.

import { t } from "./i18n.js";
import { limits } from "./state.js";
import { $, setText } from "./ui.js";
import * as S from "./statuses.js";

export class AccountDialog {
  /** send(request) sends a request (false when offline); onEverywhere() forgets the session. */
  constructor(send, onEverywhere) {
    $("account").addEventListener("click", () => this.open());
    $("account-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const old = $("account-old").value;
      const fresh = $("account-new").value;
      if (old === "") {
        this.error(() => t("account.enterCurrent"));
      } else if (fresh.length < limits.min_password) {
        this.error(() => t("account.passwordShort", { n: limits.min_password }));
      } else if (!send({ Type: "account", Command: "password", Old: old, New: fresh })) {
        this.error(() => t("connection.notConnected"));
      } else {
        this.error("");
        $("account-submit").disabled = true;
      }
    });
    $("logout-everywhere").addEventListener("click", () => {
      if (!send({ Type: "account", Command: "logout", Everywhere: true })) {
        this.error(() => t("connection.notConnected"));
        return;
      }
      this.close();
      onEverywhere();
    });
  }

  open() {
    $("account-old").value = "";
    $("account-new").value = "";
    this.error("");
    $("account-dialog").showModal();
    $("account-old").focus();
  }

  close() {
    $("account-old").value = "";
    $("account-new").value = "";
    if ($("account-dialog").open) $("account-dialog").close();
  }

  /** The answer to a password request: the new token on success, else null (the reason shown). */
  answered(frame) {
    $("account-submit").disabled = false;
    if (frame.Status === "success") {
      this.close();
      return frame.Token;
    }
    this.error(() => S.passwordError(frame));
    return null;
  }

  /** Show why the last attempt failed ("" clears it; a function follows the language). */
  error(text) {
    setText($("account-error"), text);
    $("account-submit").disabled = false;
  }
}
