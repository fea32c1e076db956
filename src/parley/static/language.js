// The language switches: each <select data-language-switch> (on the login screen and in
// the app) shows the chosen language and changes it; the choice is remembered (i18n.js).

import { currentLanguage, setLanguage } from "./i18n.js";

function switches() {
  return document.querySelectorAll("select[data-language-switch]");
}

export function setupLanguageSwitches() {
  for (const select of switches()) {
    select.value = currentLanguage();
    select.addEventListener("change", async () => {
      // Not switched (the catalogue could not be fetched): show the language still in use.
      if (!(await setLanguage(select.value))) select.value = currentLanguage();
    });
  }
  // Every switch shows the language now chosen, whichever one changed it.
  window.addEventListener("languagechange", () => {
    for (const select of switches()) select.value = currentLanguage();
  });
}
