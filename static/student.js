// Student page: join, answer, see results. Phone first.
import {
  $,
  announce,
  BarChart,
  bindConnectionStatus,
  choiceKeys,
  Countdown,
  el,
  fetchJson,
  fmtCountdown,
  fmtScore,
  parseDecimal,
  ReconnectingSocket,
  richNodes,
  roundScore,
  setChildren,
  setRenderedHtml,
  setText,
  tEl,
  wsUrl,
} from "/static/common.js";
import { formatNumber, formatPercent, hasKey, initPageLanguage, setT, t } from "/static/i18n.js";

// The student's own choice in the language menu; without one the page follows the browser.
const LANGUAGE_KEY = "quizctl.language.student";

const VIEWS = [
  "view-loading",
  "view-join",
  "view-lobby",
  "view-question",
  "view-skipped",
  "view-reveal",
  "view-between",
  "view-ended",
];

const S = {
  me: null, // {student_id, name, total_score}
  roster: false, // the server checks ids against a class list: only the id is asked for
  sock: null,
  view: "view-loading",
  sessionState: null,
  title: "",
  question: null, // see questionFrom()
  questions: new Map(), // idx -> question, for the reveal
  totalQuestions: null,
  ack: null, // submit_ack for the current question
  pending: null, // {idx, answer} sent, not yet acknowledged
  locked: false, // answered or out of time: the inputs show the answer and take no other
  paused: false, // the instructor paused the question: nothing can be submitted
  timeUp: false,
  thresholdsDone: new Set(), // seconds-left marks already announced for this question
  lastReveal: null, // the question_closed message shown, re-rendered on a language change
  lastTop5: [],
  gotMessageSinceConnect: false,
  justJoined: false,
};

const statusHandler = bindConnectionStatus($("conn"));

// A screen reader hears the countdown only at these marks (and half time), through its own
// polite live region, so a tick never interrupts the question being read.
const TIME_MARKS_S = [10, 5];

function timeMarks(limitS) {
  const marks = TIME_MARKS_S.filter((mark) => limitS > mark);
  const half = Math.round(limitS / 2);
  if (limitS >= 20 && half > TIME_MARKS_S[0]) marks.unshift(half);
  return marks;
}

/** Marks already behind `remainingMs` count as announced (a reload does not announce "half time"). */
function armTimeMarks(remainingMs) {
  const limit = S.question ? S.question.time_limit : 0;
  S.thresholdsDone = new Set(timeMarks(limit).filter((mark) => mark * 1000 >= remainingMs));
}

let timerAnnounceTimer = null;

function announceTime(message) {
  const region = $("timer-announcer");
  region.textContent = "";
  if (timerAnnounceTimer !== null) window.clearTimeout(timerAnnounceTimer);
  timerAnnounceTimer = window.setTimeout(() => {
    timerAnnounceTimer = null;
    region.textContent = message;
  }, 50);
}

function onTick(ms) {
  setText("timer-text", fmtCountdown(ms));
  const limit = S.question ? Number(S.question.time_limit) * 1000 : 0;
  const fill = $("timer-fill");
  if (fill) fill.style.width = limit > 0 ? `${Math.min(100, (ms / limit) * 100)}%` : "0%";
  $("timer").classList.toggle("urgent", ms > 0 && ms <= 5000);
  if (!S.question || S.locked || S.paused) return;
  const due = timeMarks(S.question.time_limit).filter((mark) => ms <= mark * 1000 && !S.thresholdsDone.has(mark));
  if (due.length) {
    for (const mark of due) S.thresholdsDone.add(mark);
    announceTime(t("question.seconds_left", { count: Math.min(...due) }));
  }
}

const countdown = new Countdown(onTick, () => {
  if (S.view !== "view-question" || S.ack || S.paused) return;
  S.timeUp = true;
  lockAnswers();
  setT("question-status", S.pending ? "question.sending" : "question.time_up");
  if (!S.pending) announce(t("question.time_up_short"));
});

// ------------------------------------------------------------------ views

function showView(id) {
  const active = document.activeElement;
  const lostFocus = active && active !== document.body && VIEWS.some((v) => v !== id && $(v).contains(active));
  const changed = S.view !== id;
  for (const v of VIEWS) $(v).hidden = v !== id;
  S.view = id;
  if (id !== "view-question") countdown.stop();
  if (changed) window.scrollTo(0, 0);
  if (lostFocus) {
    // Focus goes to the page's main region, not to the new view's heading: after an answer
    // by keyboard the focus ring must not sit on the result (the live region says what changed),
    // and the next Tab starts at the top of the new view.
    $("main").focus({ preventScroll: true });
  }
}

function setTitle(title) {
  if (!title) return;
  S.title = title;
  setText("quiz-title", title);
  setT(document.querySelector("title"), "student.doc_title_quiz", { title });
}

function renderWho() {
  const who = $("who");
  if (!S.me) {
    who.hidden = true;
    return;
  }
  who.hidden = false;
  setT(who, "student.who", { name: S.me.name, count: roundScore(S.me.total_score ?? 0) });
  setT("lobby-who", "lobby.joined_as", { name: S.me.name, id: S.me.student_id });
}

function showLoading(key) {
  setT("loading-msg", key);
  showView("view-loading");
}

/** "Question 3 of 10" (or "Question 3" before the total is known), as [key, params] for setT. */
function counter(idx) {
  return S.totalQuestions ? ["question.counter", { n: idx + 1, total: S.totalQuestions }] : ["question.counter_open_end", { n: idx + 1 }];
}

/** The text for a refusal: the catalog's for a known code, else the server's own words. */
function errorText(code, serverMessage) {
  if (code && hasKey(`errors.${code}`)) return t(`errors.${code}`);
  return serverMessage || t("errors.unknown");
}

/** With a class list the server knows every name: the form asks only for the student ID. */
function applyRosterMode() {
  $("name-field").hidden = S.roster;
  $("join-roster-hint").hidden = !S.roster;
  $("student-name").required = !S.roster;
}

// ------------------------------------------------------------------ join

function fieldError(inputId, errorId, message) {
  const input = $(inputId);
  const err = $(errorId);
  if (message) {
    setText(err, message);
    err.hidden = false;
    input.setAttribute("aria-invalid", "true");
  } else {
    err.textContent = "";
    err.hidden = true;
    input.removeAttribute("aria-invalid");
  }
}

function formError(message) {
  const node = $("join-error");
  setText(node, message || "");
  node.hidden = !message;
}

/** Back to the join form; `notice` is a catalog key saying why (or empty). */
function showJoin(notice = "") {
  stopSocket();
  S.question = null;
  S.ack = null;
  S.pending = null;
  S.paused = false;
  const n = $("join-notice");
  if (notice) setT(n, notice);
  else setText(n, "");
  n.hidden = !notice;
  if (S.me) {
    // Convenience after a reset: the same device usually re-joins as the same person.
    if (!$("student-id").value) $("student-id").value = S.me.student_id;
    if (!$("student-name").value && !S.roster) $("student-name").value = S.me.name;
  }
  S.me = null;
  renderWho();
  $("join-button").disabled = false;
  showView("view-join");
  if (notice) announce(t(notice));
}

// Which field a join refusal is about; the rest are shown under the button.
const ID_ERRORS = new Set(["bad_student_id", "duplicate_student_id", "not_on_roster"]);
const NAME_ERRORS = new Set(["bad_name"]);

async function onJoinSubmit(ev) {
  ev.preventDefault();
  formError("");
  const studentId = $("student-id").value.trim();
  const name = S.roster ? "" : $("student-name").value.trim();
  fieldError("student-id", "student-id-error", studentId ? "" : t("join.id_missing"));
  fieldError("student-name", "student-name-error", name || S.roster ? "" : t("join.name_missing"));
  if (!studentId) {
    $("student-id").focus();
    return;
  }
  if (!name && !S.roster) {
    $("student-name").focus();
    return;
  }
  const button = $("join-button");
  button.disabled = true;
  setT(button, "join.button_busy");
  try {
    // With a class list the name is the list's: the answer says it, and the page shows it
    // ("Joined as …") so that a mistyped ID is noticed at once.
    const body = S.roster ? { student_id: studentId } : { student_id: studentId, name };
    const res = await fetchJson("/join", { method: "POST", body });
    if (res.ok && res.data) {
      S.me = { student_id: res.data.student_id ?? studentId, name: res.data.name ?? name, total_score: 0 };
      $("join-notice").hidden = true;
      S.justJoined = true;
      renderWho();
      announce(t("lobby.joined_as", { name: S.me.name, id: S.me.student_id }));
      showLoading("loading.joining");
      startSocket();
      return;
    }
    const code = String((res.data && res.data.error) || (res.status === 429 ? "rate_limited" : ""));
    const serverMessage = res.data && res.data.message;
    if (ID_ERRORS.has(code)) {
      fieldError("student-id", "student-id-error", errorText(code, serverMessage));
      $("student-id").focus();
    } else if (NAME_ERRORS.has(code)) {
      fieldError("student-name", "student-name-error", errorText(code, serverMessage));
      $("student-name").focus();
    } else if (code) {
      formError(errorText(code, serverMessage));
    } else {
      formError(t("join.failed_status", { status: String(res.status) }));
    }
  } catch {
    formError(t("join.network"));
  } finally {
    button.disabled = false;
    setT(button, "join.button");
  }
}

// ------------------------------------------------------------------ socket

function startSocket() {
  stopSocket();
  $("conn").hidden = false;
  S.gotMessageSinceConnect = false;
  S.sock = new ReconnectingSocket(wsUrl("/ws/student"), {
    onMessage,
    onStatus: statusHandler,
    onOpen: () => {
      S.gotMessageSinceConnect = false;
    },
    onFatal: (code) => {
      S.sock = null;
      if (code === 4002) {
        showJoin("join.notice_reset");
      } else if (S.justJoined && !S.gotMessageSinceConnect) {
        showJoin("join.notice_no_cookie");
      } else {
        showJoin("join.notice_invalid");
      }
    },
  });
  S.sock.start();
}

function stopSocket() {
  $("conn").hidden = true;
  if (S.sock) {
    const sock = S.sock;
    S.sock = null;
    sock.stop();
  }
  countdown.stop();
}

function onMessage(msg, receivedAt) {
  S.gotMessageSinceConnect = true;
  S.justJoined = false;
  switch (msg.type) {
    case "state":
      return onState(msg);
    case "question_open":
      return onQuestionOpen(msg, receivedAt);
    case "question_paused":
    case "question_resumed":
    case "question_extended":
      return onQuestionTiming(msg, receivedAt);
    case "question_skipped":
      return onQuestionSkipped(msg);
    case "submit_ack":
      return onSubmitAck(msg);
    case "question_closed":
      return onQuestionClosed(msg);
    case "between_questions":
      return onBetween(msg);
    case "session_ended":
      return onEnded(msg);
    case "session_reset":
      return showJoin("join.notice_reset");
    case "error":
      return onError(msg);
    default:
      return undefined; // pong and anything new
  }
}

function onState(msg) {
  setTitle(msg.title);
  // Known before any question arrives, so "question 3 of 10" also reads right after a reload.
  if (msg.total_questions) S.totalQuestions = Number(msg.total_questions);
  const previous = S.sessionState;
  S.sessionState = msg.state;
  if (msg.state === "lobby") {
    S.question = null;
    S.ack = null;
    S.pending = null;
    S.paused = false;
    showView("view-lobby");
    if (previous !== "lobby") announce(t("lobby.waiting"));
  } else if (msg.state === "between_questions") {
    // No payload comes with this state on reconnect: show what we know.
    const nextIdx = msg.current_question_idx === null || msg.current_question_idx === undefined ? null : Number(msg.current_question_idx) + 1;
    renderBetween({ next_idx: nextIdx, top5: S.lastTop5, your_rank: null, your_total: S.me ? S.me.total_score : null });
    refreshMe();
  } else if (S.view === "view-loading" || S.view === "view-join") {
    // question_open / question_paused / question_closed / finished: the snapshot follows.
    showLoading("loading.current_question");
  }
}

async function refreshMe() {
  try {
    const res = await fetchJson("/me");
    if (res.ok && res.data && S.me) {
      S.me.total_score = res.data.total_score;
      renderWho();
      if (S.view === "view-between" && !$("between-rank").dataset.fromServer) {
        setT("between-rank", "rank.total_only", { count: roundScore(res.data.total_score) });
      }
    }
  } catch {
    /* the socket's state is what matters; ignore */
  }
}

// ------------------------------------------------------------------ question

// How each question type is answered on the page.
const KIND_OF_TYPE = { multiple: "checks", true_false: "truefalse", numeric: "number", text: "text" };
// The instruction under the question (the legend of its answer group), by input kind.
const LEGENDS = {
  tiles: "question.pick_one",
  vote: "question.pick_vote",
  checks: "question.pick_all",
  truefalse: "question.pick_true_false",
  number: "question.enter_number",
  text: "question.enter_text",
};
// Kinds answered with the Submit button (tiles answer on the tap itself).
const SUBMIT_KINDS = new Set(["checks", "number", "text"]);
const TRUE_FALSE = ["true", "false"];

/** The question as the page keeps it, from `question_open`. */
function questionFrom(msg) {
  const type = msg.question_type || "single";
  const open = msg.open === true;
  return {
    idx: Number(msg.question_idx),
    type,
    kind: type === "poll" && open ? "text" : KIND_OF_TYPE[type] || "tiles",
    text: msg.text ?? "",
    textHtml: msg.text_html ?? "",
    options: msg.options || {},
    optionsHtml: msg.options_html || {},
    optionImages: msg.option_images || {},
    image: msg.image || null,
    unit: msg.unit || "",
    maxLength: Number(msg.max_length) || 100,
    open,
    points: Number(msg.points ?? 1),
    scored: msg.scored !== false && type !== "poll",
    time_limit: Number(msg.time_limit) || 0,
    extraTime: Number(msg.extra_time) || null,
  };
}

/** An option's content: its rendered HTML (code, math), or its text; `inControl` inside a tile. */
function optionContent(q, key, inControl = false) {
  const html = q.optionsHtml[key];
  return html ? richNodes(html, { focusableCode: !inControl }) : [q.options[key] ?? key];
}

function optionImage(q, key) {
  const image = q.optionImages[key];
  return image && image.url ? el("img", { class: "answer-image", src: image.url, alt: image.alt || "" }) : null;
}

function buildTiles(q) {
  return choiceKeys(q.options).map((key) =>
    el(
      "button",
      { type: "button", class: `answer answer-${key}`, dataset: { key }, "aria-pressed": "false", "aria-keyshortcuts": key },
      ...optionParts(q, key),
    ),
  );
}

function buildChecks(q) {
  return choiceKeys(q.options).map((key) =>
    el(
      "label",
      { class: `answer choice answer-${key}`, dataset: { key } },
      el("input", { type: "checkbox", class: "choice-box", name: "choice", value: key }),
      ...optionParts(q, key),
    ),
  );
}

// What an option tile shows, as a button (single) or a checkbox label (multiple): its
// letter (read as "Option A"), its content and image, and the badge the reveal fills.
function optionParts(q, key) {
  return [
    el("span", { class: "answer-letter", "aria-hidden": "true" }, key),
    tEl("span", { class: "visually-hidden" }, "question.option", { key }),
    " ",
    el("span", { class: "answer-text", dir: "auto" }, optionContent(q, key, true)),
    optionImage(q, key),
    el("span", { class: "answer-badge" }),
  ];
}

function buildTrueFalse() {
  return TRUE_FALSE.map((value) =>
    el(
      "button",
      { type: "button", class: `answer answer-tf answer-${value}`, dataset: { key: value }, "aria-pressed": "false" },
      tEl("span", { class: "answer-text" }, `question.${value}`),
      el("span", { class: "answer-badge" }),
    ),
  );
}

function buildField(q) {
  const number = q.kind === "number";
  const unit = number && q.unit ? el("span", { id: "answer-unit", class: "answer-unit", dir: "auto" }, q.unit) : null;
  const input = el("input", {
    id: "answer-input",
    type: "text",
    inputmode: number ? "decimal" : "text",
    maxlength: number ? 40 : q.maxLength,
    autocomplete: "off",
    autocapitalize: number ? "off" : "sentences",
    spellcheck: "false",
    enterkeyhint: "send",
    dir: number ? "ltr" : "auto",
    "aria-describedby": unit ? "answer-unit answer-error" : "answer-error",
  });
  input.addEventListener("input", () => showAnswerError(""));
  return [
    el(
      "div",
      { class: "answer-field" },
      tEl("label", { for: "answer-input" }, "question.your_answer"),
      el("div", { class: "input-with-unit" }, input, unit),
    ),
  ];
}

function buildInputs(q) {
  if (q.kind === "checks") return buildChecks(q);
  if (q.kind === "truefalse") return buildTrueFalse();
  if (q.kind === "number" || q.kind === "text") return buildField(q);
  return buildTiles(q);
}

function renderExtraTime(q) {
  const note = $("extra-time-note");
  if (q.extraTime && q.extraTime !== 1) {
    setT(note, "student.extra_time_note", { count: q.time_limit });
    note.hidden = false;
  } else {
    note.hidden = true;
  }
}

function renderQuestion(q) {
  setT("question-count", ...counter(q.idx));
  if (q.textHtml) setRenderedHtml("question-text", q.textHtml);
  else setText("question-text", q.text);
  const image = q.image && q.image.url ? el("img", { class: "question-image", src: q.image.url, alt: q.image.alt || "" }) : null;
  setChildren($("question-figure"), image ? el("figure", { class: "question-figure" }, image) : null);
  setText("question-status", "");
  setT("answer-legend", LEGENDS[q.type === "poll" && q.kind === "tiles" ? "vote" : q.kind]);
  setText("timer-text", fmtCountdown(q.time_limit * 1000));
  renderExtraTime(q);
  const answers = $("answers");
  answers.className = `answers answers-${q.kind}`;
  answers.dataset.count = String(q.kind === "tiles" || q.kind === "checks" ? choiceKeys(q.options).length : 1);
  setChildren(answers, buildInputs(q));
  $("answer-submit").hidden = !SUBMIT_KINDS.has(q.kind);
  showAnswerError("");
  S.locked = false;
  refreshControls();
}

function tileButtons() {
  return Array.from($("answers").querySelectorAll("button.answer"));
}

function checkBoxes() {
  return Array.from($("answers").querySelectorAll("input.choice-box"));
}

/** What the student has entered but not sent, kept across a re-render of the same question. */
function readDraft() {
  const input = $("answer-input");
  return { text: input ? input.value : null, checked: checkBoxes().filter((b) => b.checked).map((b) => b.value) };
}

function restoreDraft(draft) {
  const input = $("answer-input");
  if (input && draft.text !== null) input.value = draft.text;
  for (const box of checkBoxes()) box.checked = draft.checked.includes(box.value);
}

function setAriaDisabled(node, disabled) {
  if (disabled) node.setAttribute("aria-disabled", "true");
  else node.removeAttribute("aria-disabled");
}

/** The inputs' state from S.locked (answered or out of time) and S.paused: the one place it is decided. */
function refreshControls() {
  const answers = $("answers");
  const blocked = S.locked || S.paused;
  answers.classList.toggle("locked", S.locked);
  answers.classList.toggle("paused", S.paused && !S.locked);
  for (const button of tileButtons()) setAriaDisabled(button, blocked);
  for (const box of checkBoxes()) box.disabled = S.locked;
  const input = $("answer-input");
  if (input) input.readOnly = S.locked;
  setAriaDisabled($("answer-submit"), blocked || Boolean(S.pending));
  $("paused-banner").hidden = !S.paused;
  $("timer").classList.toggle("paused", S.paused);
}

function lockAnswers() {
  S.locked = true;
  refreshControls();
}

function showAnswerError(message) {
  const node = $("answer-error");
  setText(node, message || "");
  node.hidden = !message;
  const input = $("answer-input");
  if (input) {
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

function clearMarks() {
  for (const node of $("answers").querySelectorAll(".answer")) {
    node.classList.remove("chosen");
    if (node.matches("button")) node.setAttribute("aria-pressed", "false");
    const badge = node.querySelector(".answer-badge");
    if (badge) setText(badge, "");
  }
}

/** Unlock the inputs; `status` is a catalog key (or empty), or `statusText` plain text. */
function unlockAnswers(status, statusText = null) {
  S.locked = false;
  clearMarks();
  refreshControls();
  if (statusText !== null) setText("question-status", statusText);
  else if (status) setT("question-status", status);
  else setText("question-status", "");
  const said = statusText ?? (status ? t(status) : "");
  if (said) announce(said);
}

/** A number as the student would type it in this language (3.14 → "3,14" in German), without grouping. */
function numberText(value) {
  return formatNumber(value, { maximumFractionDigits: 15, useGrouping: false });
}

/** Mark `answer` as the student's and show the status message `key` (with `params`). */
function markAnswer(answer, key, params = null) {
  S.locked = true;
  showAnswerError("");
  const chosen = new Set((Array.isArray(answer) ? answer : [answer]).map(String));
  for (const node of $("answers").querySelectorAll(".answer")) {
    const on = chosen.has(node.dataset.key);
    node.classList.toggle("chosen", on);
    if (node.matches("button")) node.setAttribute("aria-pressed", on ? "true" : "false");
    const box = node.querySelector("input.choice-box");
    if (box) box.checked = on;
    const badge = node.querySelector(".answer-badge");
    if (on) setT(badge, "question.your_answer");
    else setText(badge, "");
  }
  const input = $("answer-input");
  if (input) {
    if (typeof answer === "number" && parseDecimal(input.value) !== answer) input.value = numberText(answer);
    if (typeof answer === "string" && input.value.trim() !== answer) input.value = answer;
  }
  refreshControls();
  setT("question-status", key, params);
}

// While the question is open the ack confirms only which answer arrived: no points and no
// right or wrong, which would tell the hall the answer (those come with question_closed).
function ackMessage(q, answer) {
  if (Array.isArray(answer)) {
    if (answer.length === 1) return ["question.ack", { answer: answer[0] }];
    return ["question.ack_keys", { answers: answer.join(t("question.list_separator")) }];
  }
  if (typeof answer === "boolean") return ["question.ack_text", { answer: t(answer ? "question.true" : "question.false") }];
  if (typeof answer === "number") return ["question.ack_text", { answer: numberText(answer) }];
  if (q && q.kind === "tiles") return ["question.ack", { answer }];
  return ["question.ack_text", { answer: String(answer) }];
}

/** The answer in the inputs, in the shape the server takes; null (and the reason shown) if there is none. */
function readAnswer(q) {
  if (q.kind === "checks") {
    const keys = checkBoxes().filter((b) => b.checked).map((b) => b.value);
    if (!keys.length) {
      refuseInput(t("question.choose_at_least_one"), checkBoxes()[0]);
      return null;
    }
    return keys.sort();
  }
  const input = $("answer-input");
  if (q.kind === "number") {
    const value = parseDecimal(input.value);
    if (value === null) {
      refuseInput(t("question.number_invalid", { example: numberText(3.14) }), input);
      return null;
    }
    return value;
  }
  const text = input.value.trim();
  if (!text) {
    refuseInput(t("question.text_empty"), input);
    return null;
  }
  if (text.length > q.maxLength) {
    refuseInput(t("question.text_too_long", { count: q.maxLength }), input);
    return null;
  }
  return text;
}

function refuseInput(message, focusNode) {
  showAnswerError(message);
  announce(message);
  if (focusNode) focusNode.focus();
}

function submitAnswer(answer) {
  if (!S.question || S.locked || S.pending || S.view !== "view-question") return;
  if (S.paused) {
    // The server would refuse it (`paused`): say so instead of sending.
    announce(t("student.paused_note"));
    return;
  }
  const idx = S.question.idx;
  if (!S.sock || !S.sock.send({ type: "submit", question_idx: idx, answer })) {
    setT("question-status", "question.not_connected");
    announce(t("question.not_connected_short"));
    return;
  }
  S.pending = { idx, answer };
  markAnswer(answer, "question.sending");
}

function onAnswerSubmit(ev) {
  ev.preventDefault();
  const q = S.question;
  if (!q || !SUBMIT_KINDS.has(q.kind) || S.locked || S.pending || S.view !== "view-question") return;
  if (S.paused) {
    announce(t("student.paused_note"));
    return;
  }
  const answer = readAnswer(q);
  if (answer !== null) submitAnswer(answer);
}

/** The countdown from `remainingMs` as received (frozen while paused). */
function startTimer(remainingMs, receivedAt) {
  armTimeMarks(remainingMs);
  if (S.paused) {
    countdown.stop();
    onTick(remainingMs);
  } else {
    countdown.start(remainingMs, receivedAt);
  }
}

function onQuestionOpen(msg, receivedAt) {
  const q = questionFrom(msg);
  const idx = q.idx;
  const sameQuestion = S.question && S.question.idx === idx && S.view === "view-question";
  const draft = sameQuestion && !S.locked ? readDraft() : null;
  S.paused = msg.paused === true;
  S.sessionState = S.paused ? "question_paused" : "question_open";
  S.question = q;
  S.questions.set(idx, q);
  if (msg.total_questions) S.totalQuestions = Number(msg.total_questions);
  if (!S.ack || S.ack.question_idx !== idx) S.ack = null;
  if (S.pending && S.pending.idx !== idx) S.pending = null;
  S.timeUp = false;

  renderQuestion(q);
  if (draft) restoreDraft(draft);
  showView("view-question");
  const remaining = msg.remaining_ms ?? q.time_limit * 1000;
  startTimer(remaining, receivedAt);
  if (!sameQuestion) {
    const text = $("question-text").textContent.trim();
    announce(t("question.announce", { counter: t(...counter(idx)), text }));
  }

  if (S.ack) {
    markAnswer(S.ack.answer, ...ackMessage(q, S.ack.answer));
  } else if (S.pending) {
    // Sent before a reconnect and never acknowledged: send again. The server
    // answers a repeat with the first ack, so this is safe.
    markAnswer(S.pending.answer, "question.sending");
    if (S.paused || !S.sock || !S.sock.send({ type: "submit", question_idx: idx, answer: S.pending.answer })) {
      S.pending = null;
      unlockAnswers(S.paused ? "student.paused_note" : "question.resend_failed");
    }
  } else if (Number(remaining) <= 0 && !S.paused) {
    S.timeUp = true;
    lockAnswers();
    setT("question-status", "question.time_up");
  }
}

/** `question_paused`, `question_resumed`, `question_extended`: the same question, a new countdown. */
function onQuestionTiming(msg, receivedAt) {
  const q = S.question;
  if (!q || q.idx !== Number(msg.question_idx)) return;
  q.time_limit = Number(msg.time_limit) || q.time_limit;
  q.extraTime = Number(msg.extra_time) || null;
  S.paused = msg.paused === true;
  S.sessionState = S.paused ? "question_paused" : "question_open";
  if (S.view !== "view-question") return;
  renderExtraTime(q);
  const remaining = Number(msg.remaining_ms) || 0;
  if (S.timeUp && !S.ack && !S.pending && remaining > 0) {
    // More time after this page's countdown ran out: the server takes answers again.
    S.timeUp = false;
    unlockAnswers("");
  }
  startTimer(remaining, receivedAt);
  refreshControls();
  if (msg.type === "question_paused") announce(t("student.paused_announce"));
  else if (msg.type === "question_resumed") announce(t("student.resumed_announce"));
  else announce(t("student.extended_announce", { count: Math.ceil(remaining / 1000) }));
}

function onQuestionSkipped(msg) {
  const idx = Number(msg.question_idx);
  if (S.question && S.question.idx !== idx) return;
  countdown.stop();
  S.sessionState = "question_closed";
  S.pending = null;
  S.paused = false;
  showView("view-skipped");
  announce(t("student.skipped_title"));
}

function onSubmitAck(msg) {
  const idx = Number(msg.question_idx);
  if (S.pending && S.pending.idx === idx) S.pending = null;
  if (!S.question || S.question.idx !== idx) return;
  // The ack's score (if a server still sends one) is deliberately not kept.
  S.ack = { question_idx: idx, answer: msg.answer };
  if (S.view === "view-question") {
    const [key, params] = ackMessage(S.question, msg.answer);
    markAnswer(msg.answer, key, params);
    announce(t(key, params));
  }
}

function onError(msg) {
  const message = errorText(msg.code, msg.message);
  if (msg.code === "paused") S.paused = true;
  if (S.pending) {
    S.pending = null;
    if (msg.code === "not_open" || msg.code === "time_expired") {
      clearMarks();
      lockAnswers();
      setText("question-status", message);
      announce(message);
    } else {
      unlockAnswers("", message);
    }
    return;
  }
  if (S.view === "view-question") {
    setText("question-status", message);
    refreshControls();
  }
  announce(message);
}

// ------------------------------------------------------------------ results

/**
 * A catalog message whose placeholder `slot` holds nodes (an option's rendered HTML), as a
 * list of nodes: the message's text around them stays text.
 */
function messageWithNodes(key, params, slot, nodes) {
  const marker = "\u0000";
  const [before, after = ""] = t(key, { ...params, [slot]: marker }).split(marker);
  return [before, ...nodes, after].filter((part) => part !== "");
}

/** "B: 4" with the option's content as the page showed it (code and math intact). */
function optionLabel(q, key) {
  if (!q || !Object.prototype.hasOwnProperty.call(q.options, key)) return [String(key)];
  return messageWithNodes("common.option", { key }, "text", optionContent(q, key));
}

function numberWithUnit(q, text) {
  return q && q.unit ? `${text} ${q.unit}` : text;
}

/** The student's (or any) answer for the reveal, as nodes; "No answer" for none. */
function answerNodes(q, answer) {
  if (answer === null || answer === undefined) return [tEl("span", null, "reveal.no_answer")];
  if (Array.isArray(answer)) return [el("ul", { class: "answer-list" }, answer.map((key) => el("li", null, optionLabel(q, key))))];
  if (typeof answer === "boolean") return [tEl("span", null, answer ? "question.true" : "question.false")];
  if (typeof answer === "number") return [el("bdi", null, numberWithUnit(q, numberText(answer)))];
  if (q && (q.kind === "tiles" || q.kind === "checks")) return optionLabel(q, answer);
  return [el("q", { class: "free-answer", dir: "auto" }, String(answer))];
}

/** The right answer for the reveal, as [label key, nodes]; null for a poll. */
function correctNodes(q, correct) {
  if (correct === null || correct === undefined) return null;
  if (q && q.kind === "text" && Array.isArray(correct)) {
    const list = el("ul", { class: "answer-list" }, correct.map((text) => el("li", null, el("q", { class: "free-answer", dir: "auto" }, text))));
    return ["reveal.accepted", [list]];
  }
  if (typeof correct === "object" && !Array.isArray(correct)) {
    const range = correct.range || [correct.value, correct.value];
    let text;
    if (correct.value === undefined || correct.value === null) {
      text = t("reveal.number_range", { low: numberText(range[0]), high: numberText(range[1]) });
    } else if (Number(correct.tolerance) > 0) {
      text = t("reveal.number_tolerance", { value: numberText(correct.value), tolerance: numberText(correct.tolerance) });
    } else {
      text = numberText(correct.value);
    }
    return ["common.correct_answer", [el("bdi", null, numberWithUnit(q, text))]];
  }
  if (Array.isArray(correct)) return ["reveal.correct_answers", answerNodes(q, correct)];
  return ["common.correct_answer", answerNodes(q, correct)];
}

/** Rank and total as [key, params] for setT ([null, null] when there is nothing to say). */
function rankMessage(rank, total) {
  if (rank === null || rank === undefined) {
    return total === null || total === undefined ? [null, null] : ["rank.total_only", { count: roundScore(total) }];
  }
  return ["rank.with_total", { rank: Number(rank), count: roundScore(total ?? 0) }];
}

function setRank(node, rank, total) {
  const [key, params] = rankMessage(rank, total);
  if (key) setT(node, key, params);
  else setText(node, "");
}

function rankText(rank, total) {
  const [key, params] = rankMessage(rank, total);
  return key ? t(key, params) : "";
}

function renderTop(listId, rows) {
  const items = (rows || []).map((r) =>
    el(
      "li",
      { class: r.is_you ? "you" : null },
      tEl("span", { class: "top-rank" }, "rank.place", { rank: Number(r.rank) }),
      el("span", { class: "top-name" }, el("bdi", null, r.name), r.is_you ? tEl("span", { class: "you-badge" }, "common.you") : null),
      el("span", { class: "top-score" }, fmtScore(r.score)),
    ),
  );
  if (!items.length) items.push(tEl("li", { class: "empty" }, "common.no_scores"));
  setChildren($(listId), items);
}

function updateTotal(total) {
  if (S.me && total !== undefined && total !== null) {
    S.me.total_score = total;
    renderWho();
  }
}

/** Whether `key` (an option key, "true"/"false") is among the right answers. */
function isRightKey(correct, key) {
  if (Array.isArray(correct)) return correct.map(String).includes(key);
  return correct !== null && correct !== undefined && String(correct) === key;
}

/** How the class answered: bars for options and numbers, a list for free text. */
function renderResults(q, msg) {
  const card = $("reveal-results-card");
  const box = $("reveal-results");
  const distribution = msg.distribution || {};
  const mine = new Set((Array.isArray(msg.your_answer) ? msg.your_answer : [msg.your_answer]).map(String));
  const note = (right, yours) =>
    [right ? t("reveal.chart_correct") : "", yours ? t("reveal.chart_yours") : ""].filter(Boolean).join(t("question.list_separator"));
  let items = null;
  if (q && (q.kind === "tiles" || q.kind === "checks" || q.kind === "truefalse")) {
    const counts = msg.histogram || (distribution.options ?? {});
    const keys = q.kind === "truefalse" ? TRUE_FALSE : choiceKeys(q.options);
    items = keys.map((key) => {
      const right = isRightKey(msg.correct, key);
      const label = q.kind === "truefalse" ? t(`question.${key}`) : key;
      return { key, label, count: counts[key] ?? 0, className: right ? `bar-${key} bar-correct` : `bar-${key}`, note: note(right, mine.has(key)) };
    });
  } else if (distribution.bins && distribution.bins.length) {
    const [low, high] = distribution.right || [Infinity, -Infinity];
    items = distribution.bins.map((bin, i) => {
      const right = bin.high >= low && bin.low <= high;
      const label = t("chart.range", { from: formatNumber(bin.low), to: formatNumber(bin.high) });
      return { key: String(i), label, count: bin.count, className: right ? "bar-correct" : "bar-muted", note: note(right, false) };
    });
  }
  if (items) {
    const chart = el("div", { class: "reveal-chart" });
    setChildren(box, chart);
    new BarChart(chart, { showPercent: true, ariaLabel: t("reveal.results") }).update(items);
    setT("reveal-results-h", "reveal.results");
    card.hidden = false;
    return;
  }
  const top = distribution.top || [];
  if (top.length) {
    const list = el(
      "ol",
      { class: "top-answers" },
      top.map((row) => el("li", null, el("bdi", { class: "top-answer-text", dir: "auto" }, row.text), el("span", { class: "top-answer-count" }, formatNumber(row.count)))),
    );
    setChildren(box, list);
    setT("reveal-results-h", "reveal.top_answers");
    card.hidden = false;
    return;
  }
  setChildren(box);
  card.hidden = true;
}

/** The reveal's headline key and the result card's class, from the student's own result. */
function verdict(q, msg) {
  const answered = msg.your_answer !== null && msg.your_answer !== undefined;
  if (q && q.type === "poll") return answered ? ["reveal.poll_thanks", "voted"] : ["reveal.poll_missed", "missed"];
  if (!answered) return ["reveal.missed", "missed"];
  if (msg.your_correct === true) return ["reveal.correct", "correct"];
  if (Number(msg.your_score) > 0) return ["reveal.partly", "partly"];
  return ["reveal.wrong", "wrong"];
}

function renderReveal(msg) {
  const idx = Number(msg.question_idx);
  const q = S.questions.get(idx) || null;
  const poll = (q && q.type === "poll") || msg.question_type === "poll";
  const [headline, tone] = verdict(q, msg);
  const result = $("reveal-result");
  result.classList.remove("correct", "wrong", "missed", "partly", "voted");
  result.classList.add(tone);
  setT("reveal-h", headline);
  const pointsNode = $("reveal-points");
  pointsNode.hidden = poll;
  if (!poll) setT(pointsNode, "reveal.points", { count: roundScore(msg.your_points ?? msg.your_score ?? 0) });
  setT("reveal-count", ...counter(idx));
  if (q && q.textHtml) setRenderedHtml("reveal-question", q.textHtml);
  else setText("reveal-question", q ? q.text : "");

  const correct = poll ? null : correctNodes(q, msg.correct);
  $("reveal-correct-row").hidden = !correct;
  if (correct) {
    setT("reveal-correct-label", correct[0]);
    setChildren($("reveal-correct"), correct[1]);
  }
  setChildren($("reveal-yours"), answerNodes(q, msg.your_answer ?? null));
  const scoreRow = $("reveal-score-row");
  scoreRow.hidden = poll;
  if (!poll) {
    const possible = q ? q.points : 1;
    setT("reveal-score", "reveal.score_value", { percent: formatPercent(Number(msg.your_score) || 0), count: roundScore(possible) });
  }
  setRank("reveal-rank", msg.your_rank, msg.your_total);
  if (msg.explanation_html) setRenderedHtml("reveal-explanation", msg.explanation_html);
  else setText("reveal-explanation", msg.explanation || "");
  $("reveal-explanation-wrap").hidden = !(msg.explanation_html || msg.explanation);
  renderResults(q, msg);
  renderTop("reveal-top", msg.top5 || []);
  return { headline, correctText: correct ? $("reveal-correct").textContent.trim() : "", poll };
}

function onQuestionClosed(msg) {
  S.sessionState = "question_closed";
  countdown.stop();
  S.pending = null;
  S.paused = false;
  S.lastReveal = msg;
  S.lastTop5 = msg.top5 || [];
  const shown = renderReveal(msg);
  updateTotal(msg.your_total);
  showView("view-reveal");
  const rank = rankText(msg.your_rank, msg.your_total);
  if (shown.poll || !shown.correctText) announce(t("reveal.announce_short", { headline: t(shown.headline), rank }));
  else announce(t("reveal.announce", { headline: t(shown.headline), answer: shown.correctText, rank }));
}

function renderBetween(msg) {
  const next = msg.next_idx;
  if (next === null || next === undefined) setT("between-h", "between.title");
  else if (S.totalQuestions) setT("between-h", "between.title_n", { n: Number(next) + 1, total: S.totalQuestions });
  else setT("between-h", "between.title_n_open_end", { n: Number(next) + 1 });
  const rankNode = $("between-rank");
  setRank(rankNode, msg.your_rank, msg.your_total);
  if (msg.your_rank !== null && msg.your_rank !== undefined) rankNode.dataset.fromServer = "1";
  else delete rankNode.dataset.fromServer;
  $("between-top-card").hidden = !(msg.top5 && msg.top5.length);
  renderTop("between-top", msg.top5);
  showView("view-between");
}

function onBetween(msg) {
  S.sessionState = "between_questions";
  S.question = null;
  if (msg.top5) S.lastTop5 = msg.top5;
  updateTotal(msg.your_total);
  renderBetween(msg);
  announce(t("between.announce", { rank: rankText(msg.your_rank, msg.your_total) }));
}

function onEnded(msg) {
  S.sessionState = "finished";
  S.question = null;
  countdown.stop();
  const answered = msg.questions_answered ?? 0;
  if (msg.your_rank) setT("ended-rank", "ended.rank", { rank: Number(msg.your_rank) });
  else setT("ended-rank", "ended.thanks");
  if (S.totalQuestions) setT("ended-answered", "ended.answered_of", { count: Number(answered), total: S.totalQuestions });
  else setText("ended-answered", fmtScore(answered));
  setText("ended-correct", fmtScore(msg.questions_correct ?? 0));
  setT("ended-total", "common.points", { count: roundScore(msg.your_total ?? 0) });
  renderTop("ended-top", msg.final_top5);
  updateTotal(msg.your_total);
  showView("view-ended");
  announce(t("ended.announce", { rank: rankText(msg.your_rank, msg.your_total) }));
}

// ------------------------------------------------------------------ focus / visibility events

// The dashboard counts blur and hidden events as tab switches. A reload or a navigation
// away also hides the page (and may blur it) on its way out, and must not count: so a
// leaving event (blur, visibility_hidden) is held for LEAVE_GRACE_MS and sent only if
// the page is still alive then, or sooner when the page comes back (focus, visible).
// pagehide, which a reload or navigation fires, drops what is held and silences the page.
const LEAVE_GRACE_MS = 1000;
const lastEventAt = new Map();
const heldEvents = new Map(); // kind -> {timer, body}
let unloading = false;

function sendEvent(body) {
  fetch("/event", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
    keepalive: true,
  }).catch(() => {});
}

function flushHeld() {
  for (const [kind, held] of heldEvents) {
    window.clearTimeout(held.timer);
    heldEvents.delete(kind);
    sendEvent(held.body);
  }
}

function postEvent(kind) {
  if (!S.me || !S.sock || unloading) return;
  const now = performance.now();
  if (now - (lastEventAt.get(kind) || -Infinity) < 300) return; // a burst counts once
  lastEventAt.set(kind, now);
  const body = { kind };
  if (S.question && S.sessionState === "question_open") body.question_idx = S.question.idx;
  if (kind === "blur" || kind === "visibility_hidden") {
    if (heldEvents.has(kind)) return;
    const timer = window.setTimeout(() => {
      heldEvents.delete(kind);
      if (!unloading) sendEvent(body);
    }, LEAVE_GRACE_MS);
    heldEvents.set(kind, { timer, body });
    return;
  }
  flushHeld(); // back before the grace ran out: the page stayed open, so the switch was real
  sendEvent(body);
}

window.addEventListener("blur", () => postEvent("blur"));
window.addEventListener("focus", () => postEvent("focus"));
document.addEventListener("visibilitychange", () => {
  postEvent(document.visibilityState === "hidden" ? "visibility_hidden" : "visibility_visible");
});
window.addEventListener("pagehide", () => {
  unloading = true;
  for (const held of heldEvents.values()) window.clearTimeout(held.timer);
  heldEvents.clear();
});
// Back from the back/forward cache: the page is alive again.
window.addEventListener("pageshow", (ev) => {
  if (ev.persisted) unloading = false;
});

// ------------------------------------------------------------------ wiring

$("join-form").addEventListener("submit", onJoinSubmit);
$("student-id").addEventListener("input", () => fieldError("student-id", "student-id-error", ""));
$("student-name").addEventListener("input", () => fieldError("student-name", "student-name-error", ""));
$("answer-form").addEventListener("submit", onAnswerSubmit);
$("answers").addEventListener("change", () => showAnswerError(""));

$("answers").addEventListener("click", (ev) => {
  const button = ev.target.closest("button.answer");
  if (!button || !S.question) return;
  const key = button.dataset.key;
  submitAnswer(S.question.kind === "truefalse" ? key === "true" : key);
});

// Letters A-F and digits 1-6 answer a choice question (not while typing in a field).
const SHORTCUTS = { a: "A", b: "B", c: "C", d: "D", e: "E", f: "F", 1: "A", 2: "B", 3: "C", 4: "D", 5: "E", 6: "F" };

document.addEventListener("keydown", (ev) => {
  if (S.view !== "view-question" || S.locked || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement || ev.target instanceof HTMLSelectElement) return;
  if (!S.question || S.question.kind !== "tiles") return;
  const key = SHORTCUTS[ev.key.toLowerCase()];
  if (key && Object.prototype.hasOwnProperty.call(S.question.options, key)) {
    ev.preventDefault();
    submitAnswer(key);
  }
});

/** The quiz's title and whether a class list is used, before anyone joins (`GET /session`). */
async function loadSessionInfo() {
  try {
    const res = await fetchJson("/session");
    if (res.ok && res.data) {
      setTitle(res.data.title);
      S.roster = res.data.roster === true;
      applyRosterMode();
      if (res.data.total_questions) S.totalQuestions = Number(res.data.total_questions);
    }
  } catch {
    /* the join form works without it: the name field stays */
  }
}

async function boot(attempt = 0) {
  showLoading("loading.connecting");
  try {
    const [res] = await Promise.all([fetchJson("/me"), S.title ? null : loadSessionInfo()]);
    if (res.status === 200 && res.data) {
      S.me = { student_id: res.data.student_id, name: res.data.name, total_score: res.data.total_score ?? 0 };
      renderWho();
      startSocket();
    } else if (res.status === 401 || res.status === 403) {
      showJoin();
    } else {
      throw new Error(`status ${res.status}`);
    }
  } catch {
    const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    showLoading("loading.retrying");
    window.setTimeout(() => boot(attempt + 1), delay);
  }
}

/** After a language change: what the page composed itself (the reveal's labels) is built again. */
function onLanguageChange() {
  if (S.view === "view-reveal" && S.lastReveal) renderReveal(S.lastReveal);
}

// The language first, so that nothing is shown in the wrong one; a change in the menu
// re-translates what is on the page (see i18n.js: every message was set with setT).
await initPageLanguage({ storageKey: LANGUAGE_KEY, followBrowser: true, menu: $("lang-select"), onChange: onLanguageChange });
boot();
