// The web client's languages: every string a person sees comes from one of the two
// catalogues, locales/en.json and locales/ru.json, which hold the same keys
// (tests/test_catalogues.py fails when one lacks a key the other or the code uses).
//
//   t("key", { name: "bob" })   a string, with {name} filled in
//   t("key", { n: 5 })          a plural: the entry is an object of Intl.PluralRules forms
//                               ("one", "few", "many", "other"), chosen by n
//   time(date), day(date), dayTime(date), dateTime(date)   dates and times by Intl, in the
//                               chosen language; number(n, options) a number ("6.0" / "6,0")
//   translate(root)             fills elements marked data-i18n="key" (text) and
//                               data-i18n-attr="attribute:key attribute:key"
//
// The language is the one the person chose (remembered in localStorage), else the first of
// the browser's languages that Parley speaks, else English. setLanguage() switches it and
// fires "languagechange" on window, so the views can draw themselves again.

export const LANGUAGES = ["en", "ru"];
const STORAGE_KEY = "parley_language";

let language = "en";
let catalogue = {};
const loaded = new Map(); // language -> its catalogue, once fetched
let plurals = new Intl.PluralRules("en");

export function currentLanguage() {
  return language;
}

export function preferredLanguage() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(stored)) return stored;
  } catch {
    // storage may be unavailable; fall through to the browser's languages
  }
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

async function fetchCatalogue(lang) {
  if (loaded.has(lang)) return loaded.get(lang);
  const response = await fetch(`/static/locales/${lang}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`catalogue ${lang}: HTTP ${response.status}`);
  const fetched = await response.json();
  loaded.set(lang, fetched);
  return fetched;
}

/** Loads the preferred (or given) language's catalogue; call before drawing anything. */
export async function loadLanguage(lang = preferredLanguage()) {
  catalogue = await fetchCatalogue(lang);
  language = lang;
  plurals = new Intl.PluralRules(lang);
  document.documentElement.lang = lang;
  translate(document);
  // The other languages too, in the background: switching then works offline as well.
  for (const other of LANGUAGES) {
    if (!loaded.has(other)) fetchCatalogue(other).catch(() => {});
  }
}

/**
 * Switches the language, remembers the choice, and tells the views to draw again.
 * Returns false (nothing changed) when the catalogue cannot be had.
 */
export async function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return false;
  try {
    await loadLanguage(lang);
  } catch (err) {
    console.warn(`i18n: cannot switch to ${lang}`, err);
    return false;
  }
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not remembered, but still switched
  }
  window.dispatchEvent(new Event("languagechange"));
  return true;
}

function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** The string for `key` in the chosen language (the key itself if a catalogue lacks it). */
export function t(key, vars = {}) {
  const entry = catalogue[key];
  if (entry === undefined) {
    console.error(`i18n: no string for "${key}" in ${language}`);
    return key;
  }
  if (typeof entry === "string") return fill(entry, vars);
  const form = plurals.select(Number(vars.n));
  return fill(entry[form] ?? entry.other, vars);
}

const formats = new Map();
function format(kind, options) {
  const id = `${language}:${kind}`;
  if (!formats.has(id)) formats.set(id, new Intl.DateTimeFormat(language, options));
  return formats.get(id);
}

/** "14:05" (or "2:05 PM"): a time of day. */
export function time(date) {
  return format("time", { hour: "numeric", minute: "2-digit" }).format(date);
}

/** "30 November 2026" / "30 ноября 2026 г.": a day, for date separators. */
export function day(date) {
  return format("day", { day: "numeric", month: "long", year: "numeric" }).format(date);
}

/** "30 Nov, 14:05" / "30 нояб., 14:05": a time on another day than today. */
export function dayTime(date) {
  return format("dayTime", { day: "numeric", month: "short", hour: "numeric", minute: "2-digit" }).format(date);
}

/** The full date and time, for tooltips. */
export function dateTime(date) {
  return format("dateTime", { dateStyle: "full", timeStyle: "medium" }).format(date);
}

/** A number written the chosen language's way; `options` as for Intl.NumberFormat. */
export function number(n, options = {}) {
  return new Intl.NumberFormat(language, options).format(n);
}

/** Fills the marked elements under `root` from the catalogue. */
export function translate(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(/\s+/)) {
      const [attribute, key] = pair.split(":");
      if (attribute && key) element.setAttribute(attribute, t(key));
    }
  }
}
