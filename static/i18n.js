// Translations and locale-aware formatting for the quizctl pages. No framework, no build step.
//
// Catalogs live in /static/locales/<language>.json: flat objects from a stable key
// ("join.title") to a message. A message is a string with {name} placeholders, or an
// object keyed by plural category ("one", "other", and for Arabic "zero", "two", "few",
// "many") chosen with Intl.PluralRules from the `count` parameter. en.json is the source:
// a key missing from another catalog falls back to English (with a console warning),
// never to a blank.
//
// Adding a string: put the key in en.json and in every other catalog (tests/test_i18n.py
// checks they match), then either mark the element in the HTML with data-i18n="key"
// (data-i18n-attr="aria-label:key;title:key" for attributes), or set it from JS with
// setT(node, key, params). Both are re-translated by applyTranslations() when the
// language changes; text set with plain textContent is not.

/** The languages a person can choose, each named in itself. */
export const LANGUAGES = [
  { id: "en", name: "English" },
  { id: "de", name: "Deutsch" },
  { id: "fr", name: "Français" },
  { id: "es", name: "Español" },
  { id: "zh", name: "中文" },
  { id: "ar", name: "العربية" },
];

/** Accented, ~40 % longer English in brackets: for checking layouts, never negotiated. */
export const PSEUDO_LANGUAGE = { id: "en-XA", name: "[Ēñĝļîšĥ]" };

export const DEFAULT_LANGUAGE = "en";
const CATALOG_IDS = new Set([...LANGUAGES.map((l) => l.id), PSEUDO_LANGUAGE.id]);
const RTL_LANGUAGES = new Set(["ar"]);
// The BCP 47 tag for <html lang> and Intl, where it says more than the catalog's name.
const DOCUMENT_TAGS = { zh: "zh-Hans" };

// Shown while no catalog could be loaded (the server is unreachable): the few messages
// that can appear then. tests/test_i18n.py checks they equal en.json.
const BUILTIN = {
  "conn.connecting": "Connecting…",
  "conn.open": "Connected",
  "conn.reconnecting": "Reconnecting…",
  "conn.stopped": "Disconnected",
  "loading.connecting": "Connecting to the quiz…",
  "loading.retrying": "Can't reach the quiz server. Retrying…",
};

const state = {
  language: DEFAULT_LANGUAGE,
  tag: DEFAULT_LANGUAGE,
  catalog: {},
  english: {},
  warned: new Set(),
  plural: null,
  number: null,
};

// ---------------------------------------------------------------- choosing and loading

/**
 * The catalog that best serves a list of language preferences (BCP 47 tags, best first):
 * the first preference with an exact match, or else a match on its primary language
 * ("de-CH" → "de", "zh-CN" → "zh"). The same rule as server/web/pages.py. Null if none.
 */
export function matchLanguage(preferences, available = LANGUAGES.map((l) => l.id)) {
  for (const raw of preferences || []) {
    if (typeof raw !== "string" || !raw.trim()) continue;
    const wanted = raw.trim().replace(/_/g, "-").toLowerCase();
    const exact = available.find((id) => id.toLowerCase() === wanted);
    if (exact) return exact;
    const primary = wanted.split("-")[0];
    const loose = available.find((id) => id.toLowerCase() === primary);
    if (loose) return loose;
  }
  return null;
}

/** The language the server chose for this page (<meta name="quiz-language">), if any. */
export function serverLanguage() {
  const meta = document.querySelector('meta[name="quiz-language"]');
  return meta ? meta.getAttribute("content") : null;
}

function storedLanguage(storageKey) {
  if (!storageKey) return null;
  try {
    return window.localStorage.getItem(storageKey);
  } catch {
    return null; // storage disabled
  }
}

/** Remember a person's choice in localStorage under `storageKey`. */
export function rememberLanguage(storageKey, language) {
  try {
    window.localStorage.setItem(storageKey, language);
  } catch {
    /* storage disabled: the choice lasts until the page is reloaded */
  }
}

/**
 * Which catalog a page uses, first match wins:
 *   1. `?lang=xx` in the address (also the pseudo-locale: `?lang=en-XA`), not remembered;
 *   2. the choice remembered under `storageKey` (pages with a language menu);
 *   3. the server's choice in <meta name="quiz-language">: the student page's
 *      Accept-Language best match, or the projector's and dashboard's configured language;
 *   4. with `followBrowser`, navigator.languages (a page served without the meta tag);
 *   5. English.
 */
export function chooseLanguage({ storageKey = null, followBrowser = false } = {}) {
  const all = Array.from(CATALOG_IDS);
  const query = new URLSearchParams(window.location.search).get("lang");
  const candidates = [
    matchLanguage([query], all),
    matchLanguage([storedLanguage(storageKey)], all),
    matchLanguage([serverLanguage()], all),
    followBrowser ? matchLanguage(navigator.languages || [navigator.language]) : null,
  ];
  return candidates.find(Boolean) || DEFAULT_LANGUAGE;
}

async function fetchCatalog(language) {
  const response = await fetch(`/static/locales/${language}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`catalog ${language}: HTTP ${response.status}`);
  const catalog = await response.json();
  if (!catalog || typeof catalog !== "object") throw new Error(`catalog ${language}: not an object`);
  return catalog;
}

/**
 * Load a catalog (and English, the fallback) and make it the current language for t() and
 * the formatters. An unknown tag loads English. Returns the catalog id in use. If the
 * chosen catalog cannot be fetched, English is used; if neither can, the built-in messages.
 */
export async function loadLocale(tag) {
  const language = matchLanguage([tag], Array.from(CATALOG_IDS)) || DEFAULT_LANGUAGE;
  const [english, chosen] = await Promise.allSettled([
    Object.keys(state.english).length ? Promise.resolve(state.english) : fetchCatalog(DEFAULT_LANGUAGE),
    language === DEFAULT_LANGUAGE ? Promise.resolve(null) : fetchCatalog(language),
  ]);
  if (english.status === "fulfilled") state.english = english.value;
  else console.warn("i18n: could not load the English catalog", english.reason);
  let used = language;
  if (language === DEFAULT_LANGUAGE) {
    state.catalog = state.english;
  } else if (chosen.status === "fulfilled") {
    state.catalog = chosen.value;
  } else {
    console.warn(`i18n: could not load the ${language} catalog; using English`, chosen.reason);
    state.catalog = state.english;
    used = DEFAULT_LANGUAGE;
  }
  state.language = used;
  state.tag = DOCUMENT_TAGS[used] || used;
  state.plural = new Intl.PluralRules(state.tag, { maximumFractionDigits: 2 });
  state.number = new Intl.NumberFormat(state.tag, { maximumFractionDigits: 2 });
  state.warned.clear();
  return used;
}

/** The catalog id in use ("de", "zh", "en-XA", ...). */
export function currentLanguage() {
  return state.language;
}

/** The BCP 47 tag in use, for Intl and <html lang> ("zh-Hans" for "zh"). */
export function currentTag() {
  return state.tag;
}

/** True for right-to-left languages. */
export function isRtl(language = state.language) {
  return RTL_LANGUAGES.has(language);
}

/** Set <html lang> and <html dir> for a catalog id; the CSS mirrors through logical properties. */
export function setDocumentLanguage(language = state.language) {
  const root = document.documentElement;
  root.lang = DOCUMENT_TAGS[language] || language;
  root.dir = isRtl(language) ? "rtl" : "ltr";
}

// ---------------------------------------------------------------- translating

function lookup(key) {
  if (Object.prototype.hasOwnProperty.call(state.catalog, key)) return state.catalog[key];
  if (!state.warned.has(key)) {
    state.warned.add(key);
    console.warn(`i18n: no "${key}" in the ${state.language} catalog`);
  }
  if (Object.prototype.hasOwnProperty.call(state.english, key)) return state.english[key];
  if (Object.prototype.hasOwnProperty.call(BUILTIN, key)) return BUILTIN[key];
  return key;
}

/** True if English (the source catalog) has `key`: e.g. to tell a known error code from another. */
export function hasKey(key) {
  return Object.prototype.hasOwnProperty.call(state.english, key) || Object.prototype.hasOwnProperty.call(BUILTIN, key);
}

function pluralForm(message, count) {
  const n = Number(count);
  const category = Number.isFinite(n) && state.plural ? state.plural.select(n) : "other";
  return message[category] ?? message.other ?? Object.values(message)[0] ?? "";
}

function formatParam(value) {
  if (typeof value === "number") return formatNumber(value);
  return value === null || value === undefined ? "" : String(value);
}

/**
 * The message for `key` in the current language with {name} placeholders filled from
 * `params`. Numbers are formatted for the locale; plural messages pick their form by
 * `params.count`. A missing key gives the English message, a missing parameter stays "{name}".
 */
export function t(key, params = {}) {
  let message = lookup(key);
  if (message && typeof message === "object") message = pluralForm(message, params.count);
  return String(message).replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? formatParam(params[name]) : whole,
  );
}

function nodeOf(target) {
  return typeof target === "string" ? document.getElementById(target) : target;
}

/**
 * Set a node's text to t(key, params) and remember key and params on the node
 * (data-i18n, data-i18n-params), so applyTranslations() re-translates it when the language
 * changes. Params must be plain values (names, numbers, question text), not translated text.
 */
export function setT(target, key, params = null) {
  const node = nodeOf(target);
  if (!node) return;
  node.setAttribute("data-i18n", key);
  if (params && Object.keys(params).length) node.setAttribute("data-i18n-params", JSON.stringify(params));
  else node.removeAttribute("data-i18n-params");
  node.textContent = t(key, params || {});
}

/** Attributes for common.js's el() that make an element translatable like setT does. */
export function i18nAttrs(key, params = null) {
  return {
    "data-i18n": key,
    "data-i18n-params": params && Object.keys(params).length ? JSON.stringify(params) : null,
  };
}

function readParams(node) {
  const raw = node.getAttribute("data-i18n-params");
  if (!raw) return {};
  try {
    const params = JSON.parse(raw);
    return params && typeof params === "object" ? params : {};
  } catch {
    return {};
  }
}

/**
 * Translate every element under `root` (itself included) marked with data-i18n="key"
 * (its text) or data-i18n-attr="attr:key;attr:key" (its attributes).
 */
export function applyTranslations(root = document) {
  const scope = root === document ? document.documentElement : root;
  const marked = (selector) => [...(scope.matches && scope.matches(selector) ? [scope] : []), ...scope.querySelectorAll(selector)];
  for (const node of marked("[data-i18n]")) {
    node.textContent = t(node.getAttribute("data-i18n"), readParams(node));
  }
  for (const node of marked("[data-i18n-attr]")) {
    for (const pair of node.getAttribute("data-i18n-attr").split(";")) {
      const at = pair.indexOf(":");
      if (at <= 0) continue;
      const attr = pair.slice(0, at).trim();
      const key = pair.slice(at + 1).trim();
      if (attr && key) node.setAttribute(attr, t(key));
    }
  }
}

// ---------------------------------------------------------------- language menu

/**
 * Fill a <select> with the languages (each named in itself), select the current one, and
 * on change remember the choice under `storageKey`, load the catalog, set the document's
 * language and call `onChange(language)` so the page can re-render what it composes itself.
 */
export function bindLanguageMenu(select, { storageKey, onChange = () => {} }) {
  if (!select) return;
  const options = [...LANGUAGES];
  if (state.language === PSEUDO_LANGUAGE.id) options.push(PSEUDO_LANGUAGE);
  select.replaceChildren(
    ...options.map((l) => {
      const option = document.createElement("option");
      option.value = l.id;
      option.lang = DOCUMENT_TAGS[l.id] || l.id;
      option.textContent = l.name;
      return option;
    }),
  );
  select.value = state.language;
  select.addEventListener("change", async () => {
    const wanted = select.value;
    rememberLanguage(storageKey, wanted);
    const used = await loadLocale(wanted);
    setDocumentLanguage(used);
    applyTranslations(document);
    select.value = used;
    onChange(used);
  });
}

/**
 * Everything a page does first: choose its language (see chooseLanguage), load it, set
 * <html lang/dir>, translate the static markup, and bind the language menu if there is one.
 */
export async function initPageLanguage({ storageKey = null, followBrowser = false, menu = null, onChange } = {}) {
  const used = await loadLocale(chooseLanguage({ storageKey, followBrowser }));
  setDocumentLanguage(used);
  applyTranslations(document);
  if (menu) bindLanguageMenu(menu, { storageKey, onChange });
  return used;
}

// ---------------------------------------------------------------- formatting

/** A number in the current locale (at most two decimals: scores live on a 0.05 grid). */
export function formatNumber(value, options = null) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value ?? "");
  if (options) return new Intl.NumberFormat(state.tag, options).format(n);
  return (state.number || new Intl.NumberFormat(state.tag, { maximumFractionDigits: 2 })).format(n);
}

/** A fraction (0.33) as a whole percentage ("33%", "33 %"). */
export function formatPercent(fraction) {
  return formatNumber(fraction, { style: "percent", maximumFractionDigits: 0 });
}

/** A wall-clock time of day (hh:mm:ss) in the locale's style. */
export function formatTime(epochMs) {
  if (!Number.isFinite(epochMs)) return "—";
  return new Intl.DateTimeFormat(state.tag, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(epochMs));
}

/** A date and time in the locale's style. */
export function formatDateTime(epochMs) {
  if (!Number.isFinite(epochMs)) return "—";
  return new Intl.DateTimeFormat(state.tag, { dateStyle: "medium", timeStyle: "short" }).format(new Date(epochMs));
}

/** A duration in whole seconds as the locale writes it ("30 sec", "30 Sek.", "2 min"). */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  const unit = (value, name) => formatNumber(value, { style: "unit", unit: name, unitDisplay: "short" });
  if (s < 60 || s % 60 !== 0) return unit(s, "second");
  return unit(s / 60, "minute");
}

/** How long ago, from an elapsed time in ms ("now", "12 sec. ago", "vor 3 Min."). */
export function formatRelative(elapsedMs) {
  if (!Number.isFinite(elapsedMs)) return "—";
  const rtf = new Intl.RelativeTimeFormat(state.tag, { numeric: "auto", style: "short" });
  const s = Math.max(0, Math.round(elapsedMs / 1000));
  if (s < 5) return rtf.format(0, "second");
  if (s < 60) return rtf.format(-s, "second");
  const m = Math.floor(s / 60);
  if (m < 60) return rtf.format(-m, "minute");
  return rtf.format(-Math.floor(m / 60), "hour");
}

/** Remaining milliseconds as a countdown: "42" below a minute, else "1:05", in the locale's digits. */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  if (total < 60) return formatNumber(total);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${formatNumber(m)}:${formatNumber(s, { minimumIntegerDigits: 2, useGrouping: false })}`;
}
