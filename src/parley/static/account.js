// The account dialog: a new password, and logging out on every device.

import { limits } from "./state.js";
import { $ } from "./ui.js";
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
        this.error("Enter your current password.");
      } else if (fresh.length < limits.min_password) {
        this.error(`The new password must be at least ${limits.min_password} characters long.`);
      } else if (!send({ Type: "account", Command: "password", Old: old, New: fresh })) {
        this.error("Not connected to the server. Try again when the connection is back.");
      } else {
        this.error("");
        $("account-submit").disabled = true;
      }
    });
    $("logout-everywhere").addEventListener("click", () => {
      if (!send({ Type: "account", Command: "logout", Everywhere: true })) {
        this.error("Not connected to the server. Try again when the connection is back.");
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
    this.error(S.passwordError(frame));
    return null;
  }

  /** Show why the last attempt failed ("" clears it); the form can be sent again. */
  error(text) {
    $("account-error").textContent = text;
    $("account-submit").disabled = false;
  }
}
