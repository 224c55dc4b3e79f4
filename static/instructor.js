// Instructor dashboard: drive the session, watch presence, answers and scores.
import {
  $,
  announce,
  BarChart,
  binDecimals,
  binInRange,
  binLabel,
  bindConnectionStatus,
  correctKeySet,
  Countdown,
  el,
  fmtAgo,
  fmtClock,
  fmtCountdown,
  fmtScore,
  foldAnswer,
  keyLabel,
  numericAnswerText,
  pointsText,
  questionKeys,
  ReconnectingSocket,
  ServerClock,
  setChildren,
  setRenderedHtml,
  setText,
  tEl,
  toEpochMs,
  wsUrl,
} from "/static/common.js";
import { formatDuration, formatNumber, hasKey, initPageLanguage, setT, t } from "/static/i18n.js";

// The instructor's own choice in the language menu; without one the dashboard follows the
// server's configured language (--lang / QUIZ_LANG / the pool's "language").
const LANGUAGE_KEY = "quizctl.language.instructor";

const SESSION_STATES = new Set(["lobby", "question_open", "question_closed", "between_questions", "finished"]);
const OPEN_STATES = new Set(["question_open", "question_paused"]);

function stateLabel(state) {
  if (state === "question_paused") return t("dash.state_paused");
  return SESSION_STATES.has(state) ? t(`state.${state}`) : state || "—";
}

// Refusals of the pacing commands, by code (the catalog's errors.* keys are the student page's).
const COMMAND_ERRORS = {
  not_paused: "dash.error_not_paused",
  already_paused: "dash.error_already_paused",
  bad_seconds: "controls.bad_seconds",
};

/** The text for a refusal: the catalog's for a known code, else the server's own words. */
function errorText(code, serverMessage) {
  if (code && COMMAND_ERRORS[code]) return t(COMMAND_ERRORS[code]);
  if (code && hasKey(`errors.${code}`)) return t(`errors.${code}`);
  return serverMessage || t("dash.refused");
}

const D = {
  state: null,
  title: "",
  currentIdx: null,
  totalQuestions: null,
  participants: [],
  participantCount: 0,
  lobbyTruncated: false, // a large class: `participants` are the latest to join only
  orphans: [],
  roster: null, // {notJoined, refused} when the session has a class list
  questions: new Map(), // idx -> the question_open message (text, type, options, ...)
  asked: new Set(), // question indexes already opened (a question opens once per session)
  mode: "none", // none | open | closed
  paused: false,
  skipped: false,
  remainingMs: 0,
  waitingExtra: 0,
  histogram: null,
  reveal: null,
  leaderboard: [],
  sortKey: "student_id",
  sortDir: 1,
};

const clock = new ServerClock();

// ------------------------------------------------------------------ token

function takeToken() {
  const params = new URLSearchParams(window.location.search);
  let token = params.get("token");
  try {
    if (token) sessionStorage.setItem("quizctl.instructor_token", token);
    else token = sessionStorage.getItem("quizctl.instructor_token");
  } catch {
    /* storage disabled: the cookie still works */
  }
  if (params.has("token")) {
    // Keep the secret out of the address bar (screen sharing, history).
    params.delete("token");
    const rest = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? `?${rest}` : "") + window.location.hash);
  }
  return token;
}

const token = takeToken();

// ------------------------------------------------------------------ socket

const statusHandler = bindConnectionStatus($("conn"));
let sock = null;

function startSocket() {
  $("auth-banner").hidden = true;
  sock = new ReconnectingSocket(wsUrl("/ws/instructor", token ? { token } : null), {
    onMessage,
    onStatus: (status) => {
      statusHandler(status);
      if (status !== "open") nextPending.stop(); // a reply cannot come on a socket that closed
      renderControls();
    },
    onFatal: (code) => {
      sock = null;
      if (code === 4001) setT("auth-text", "dash.not_authorized");
      else setT("auth-text", "dash.closed_code", { code: String(code) });
      $("auth-banner").hidden = false;
      renderControls();
    },
  });
  sock.start();
}

$("auth-retry").addEventListener("click", () => {
  if (sock) sock.stop();
  startSocket();
});

function send(msg) {
  hideError();
  if (!sock || !sock.send(msg)) {
    showError(t("dash.not_connected"));
    return false;
  }
  return true;
}

// ------------------------------------------------------------------ messages

function onMessage(msg, receivedAt) {
  if (msg.server_ts) clock.observe(msg.server_ts);
  if (msg.total_questions) D.totalQuestions = Number(msg.total_questions);
  switch (msg.type) {
    case "state":
      return onState(msg);
    case "lobby_update":
      return onLobby(msg);
    case "presence_update":
      return onPresence(msg);
    case "presence_delta":
      return onPresenceDelta(msg);
    case "question_open":
      return onQuestionOpen(msg, receivedAt);
    case "question_paused":
    case "question_resumed":
    case "question_extended":
      return onQuestionTiming(msg, receivedAt);
    case "question_skipped":
      return onQuestionSkipped(msg);
    case "live_histogram":
      return onLiveHistogram(msg);
    case "question_closed":
      return onQuestionClosed(msg);
    case "full_leaderboard":
      return renderLeaderboard(msg.leaderboard || []);
    case "between_questions":
      return setState("between_questions", msg.next_idx === undefined ? D.currentIdx : Number(msg.next_idx) - 1);
    case "session_ended":
      countdown.stop();
      return setState("finished", D.currentIdx);
    case "command_result":
      return onCommandResult(msg);
    case "error":
      // Replies come in the order of the commands: a refusal while Next waits is its own.
      nextPending.stop();
      return showError(errorText(msg.code, msg.message));
    default:
      return undefined;
  }
}

function setState(state, idx) {
  const changed = state !== D.state;
  D.state = state;
  if (idx !== undefined) D.currentIdx = idx === null ? null : Number(idx);
  if (changed) announce(t("state.announce", { state: stateLabel(state) }));
  renderControls();
}

function onState(msg) {
  if (msg.title) {
    D.title = msg.title;
    setText("quiz-title", msg.title);
    setT(document.querySelector("title"), "dash.doc_title_quiz", { title: msg.title });
  }
  const idx = msg.current_question_idx;
  if (msg.state === "lobby") {
    D.asked.clear();
    D.mode = "none";
    D.histogram = null;
    D.reveal = null;
    D.skipped = false;
    D.paused = false;
    D.waitingExtra = 0;
    countdown.stop();
    renderQuestion();
    renderLeaderboard([]);
  }
  setState(msg.state, idx === undefined ? D.currentIdx : idx);
}

// The server answers every command with its status: the state, the questions asked.
function onCommandResult(msg) {
  if (msg.command === "next") nextPending.stop();
  const r = msg.result;
  if (!r || typeof r !== "object") return;
  if (r.question_count) D.totalQuestions = Number(r.question_count);
  if (Array.isArray(r.questions_asked)) D.asked = new Set(r.questions_asked.map(Number));
  if (typeof r.waiting_for_extra_time === "number") D.waitingExtra = r.waiting_for_extra_time;
  if (typeof r.state === "string" && r.state !== D.state) setState(r.state, r.current_question_idx ?? D.currentIdx);
  renderControls();
}

function onLobby(msg) {
  D.participants = msg.participants || [];
  D.participantCount = Number(msg.count ?? D.participants.length);
  D.lobbyTruncated = msg.truncated === true;
  scheduleRender("lobby");
  renderControls();
}

/** The whole presence table (on connect, and every round for a class up to 300). */
function onPresence(msg) {
  const rows = Array.isArray(msg.rows) ? msg.rows : [];
  const sent = new Set();
  for (const row of rows) {
    sent.add(String(row.student_id));
    upsertRow(row);
  }
  for (const id of presence.rows.keys()) if (!sent.has(id)) removeRow(id);
  presence.questionIdx = msg.current_question_idx ?? null;
  D.orphans = msg.orphan_duplicate_joins || [];
  D.roster = Array.isArray(msg.not_joined) ? { notJoined: msg.not_joined, refused: msg.refused_joins || [] } : null;
  schedulePresence();
  scheduleRender("orphans");
  scheduleRender("roster");
  renderControls();
}

/** The rows that changed (a class over 300); the lists come only when they changed. */
function onPresenceDelta(msg) {
  const idx = msg.current_question_idx ?? null;
  if (idx !== presence.questionIdx) {
    clearAnswered();
    presence.questionIdx = idx;
  }
  for (const id of msg.removed || []) removeRow(String(id));
  for (const row of msg.rows || []) upsertRow(row);
  if (Array.isArray(msg.orphan_duplicate_joins)) {
    D.orphans = msg.orphan_duplicate_joins;
    scheduleRender("orphans");
  }
  if (Array.isArray(msg.not_joined)) {
    D.roster = { notJoined: msg.not_joined, refused: msg.refused_joins || [] };
    scheduleRender("roster");
  }
  schedulePresence();
  renderControls();
}

// ------------------------------------------------------------------ controls

function nextDescription() {
  const total = D.totalQuestions;
  const idx = D.currentIdx;
  switch (D.state) {
    case "lobby":
      return t("next.start");
    case "question_open":
    case "question_paused":
      if (total !== null && idx !== null && idx + 1 >= total) return t("next.close_and_finish");
      return idx === null ? t("next.close_and_open_next") : t("next.close_and_open", { n: idx + 2 });
    case "question_closed":
    case "between_questions":
      if (total !== null && idx !== null && idx + 1 >= total) return t("next.finish");
      return t("next.open", { n: idx === null ? 1 : idx + 2 });
    case "finished":
      return t("next.over");
    default:
      return "";
  }
}

function renderControls() {
  const connected = !!(sock && sock.isOpen);
  const open = OPEN_STATES.has(D.state);
  const finished = D.state === "finished";
  setText("st-state", stateLabel(D.state));
  const total = D.totalQuestions;
  const totalText = total ? formatNumber(total) : "?";
  // Question numbers are 1-based wherever a person reads them; the wire's are 0-based.
  setText(
    "st-question",
    D.currentIdx === null || D.currentIdx === undefined
      ? t("status.question_none", { total: totalText })
      : t("status.question_of", { n: D.currentIdx + 1, total: totalText }),
  );
  setText("st-participants", formatNumber(D.participantCount));
  setT("q-empty", finished ? "current.over" : "current.empty");
  setText("st-connected", formatNumber(presence.connected));
  setText(
    "st-answered",
    open || D.state === "question_closed" ? t("status.answered_of", { count: presence.answered, total: presence.rows.size }) : "—",
  );
  const waiting = open ? D.waitingExtra : 0;
  if (waiting > 0) setT("st-waiting", "dash.waiting_extra", { count: waiting });
  $("st-waiting").hidden = waiting === 0;

  const next = $("btn-next");
  setT(next, D.state === "lobby" ? "controls.start" : finished ? "controls.finished" : "controls.next");
  next.disabled = !connected || finished || D.state === null;
  // Not `disabled` while waiting: the button keeps the keyboard focus it has.
  if (nextPending.waiting) next.setAttribute("aria-disabled", "true");
  else next.removeAttribute("aria-disabled");
  setText("next-hint", nextPending.waiting ? t("next.pending") : nextDescription());
  $("btn-close").disabled = !connected || !open;
  const pause = $("btn-pause");
  setT(pause, D.state === "question_paused" ? "controls.resume" : "controls.pause");
  pause.disabled = !connected || !open;
  $("btn-extend30").disabled = !connected || !open;
  $("btn-extend").disabled = !connected || !open;
  $("extend-seconds").disabled = !connected || !open;
  $("btn-skip").disabled = !connected || !open;
  $("btn-board").disabled = !connected || D.state !== "question_closed";
  $("btn-end").disabled = !connected || finished || D.state === null;
  $("btn-reset").disabled = !connected;
  // A finished session opens nothing more (reset it first).
  $("btn-open").disabled = !connected || finished;
  $("open-number").disabled = finished;
  $("open-limit").disabled = finished;

  const num = $("open-number");
  if (total) {
    num.max = String(total);
    setT("open-range", "controls.open_range", { total });
  }
  if (document.activeElement !== num && !num.dataset.dirty) {
    let idx = D.currentIdx === null || D.currentIdx === undefined ? 0 : D.currentIdx + 1;
    while (D.asked.has(idx) && (!total || idx < total - 1)) idx += 1;
    if (total) idx = Math.min(idx, total - 1);
    num.value = String(idx + 1);
  }
}

let errorTimer = null;

function showError(message) {
  const node = $("dash-error");
  node.textContent = message;
  node.hidden = false;
  if (errorTimer !== null) window.clearTimeout(errorTimer);
  errorTimer = window.setTimeout(hideError, 15000);
}

function hideError() {
  $("dash-error").hidden = true;
  if (errorTimer !== null) window.clearTimeout(errorTimer);
  errorTimer = null;
}

/**
 * A Next sent and not yet answered. With a large class the server sends every student their
 * message before it answers the dashboard (about a second for 10,000 on two cores), so the
 * button says at once that the click was taken, and a second click meanwhile is not sent:
 * it would close the question the first one opens.
 */
const nextPending = {
  timer: null,
  get waiting() {
    return this.timer !== null;
  },
  start() {
    this.timer = window.setTimeout(() => this.stop(), NEXT_REPLY_WAIT_MS);
    renderControls();
  },
  stop() {
    if (this.timer === null) return;
    window.clearTimeout(this.timer);
    this.timer = null;
    renderControls();
  },
};
// Past this the button takes clicks again, reply or not (the server answers every command).
const NEXT_REPLY_WAIT_MS = 15000;

$("btn-next").addEventListener("click", () => {
  if (nextPending.waiting) return;
  if (send({ type: "next" })) nextPending.start();
});
$("btn-close").addEventListener("click", () => send({ type: "close_question" }));
$("btn-pause").addEventListener("click", () => send({ type: D.state === "question_paused" ? "resume" : "pause" }));
$("btn-extend30").addEventListener("click", () => send({ type: "extend", seconds: 30 }));
$("extend-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const seconds = Number($("extend-seconds").value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
    showError(t("controls.bad_seconds"));
    $("extend-seconds").focus();
    return;
  }
  send({ type: "extend", seconds });
});
$("btn-skip").addEventListener("click", () => {
  if (window.confirm(t("controls.confirm_skip"))) send({ type: "skip" });
});
// Extension beyond PROTOCOL.md's list: question_closed → between_questions.
$("btn-board").addEventListener("click", () => send({ type: "show_leaderboard" }));
$("btn-end").addEventListener("click", () => {
  if (window.confirm(t("controls.confirm_end"))) send({ type: "end_session" });
});
$("btn-reset").addEventListener("click", () => {
  if (window.confirm(t("controls.confirm_reset"))) send({ type: "reset" });
});

$("open-number").addEventListener("input", (ev) => {
  ev.target.dataset.dirty = "1";
});

$("open-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const num = $("open-number");
  const n = Number(num.value);
  const total = D.totalQuestions;
  if (!Number.isInteger(n) || n < 1 || (total && n > total)) {
    showError(total ? t("controls.bad_number", { total }) : t("controls.bad_number_min"));
    num.focus();
    return;
  }
  const msg = { type: "open_question", question_idx: n - 1 };
  const limitText = $("open-limit").value.trim();
  if (limitText) {
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 5 || limit > 3600) {
      showError(t("controls.bad_limit"));
      $("open-limit").focus();
      return;
    }
    msg.time_limit = limit;
  }
  if (send(msg)) delete num.dataset.dirty;
});

// ------------------------------------------------------------------ current question

const bars = new BarChart($("q-bars"), { showPercent: true });
const distBars = new BarChart($("q-dist"));

// A screen reader hears the countdown at a few thresholds, not every second.
const TIME_ANNOUNCEMENTS = [30000, 10000];
let announced = new Set();

const countdown = new Countdown(
  (ms) => {
    setText("q-timer", fmtCountdown(ms));
    $("q-timer-wrap").classList.toggle("urgent", ms > 0 && ms <= 5000);
    for (const threshold of TIME_ANNOUNCEMENTS) {
      if (ms <= threshold && ms > threshold - 1500 && !announced.has(threshold)) {
        announced.add(threshold);
        announce(t("dash.time_left", { count: threshold / 1000 }));
      }
    }
  },
  () => {},
);

/** Start, stop or freeze the countdown as the question's timing says. */
function syncCountdown(remainingMs, receivedAt) {
  D.remainingMs = Math.max(0, Number(remainingMs) || 0);
  if (D.mode === "open" && !D.paused) {
    countdown.start(D.remainingMs, receivedAt);
  } else {
    countdown.stop();
    if (D.paused) setText("q-timer", fmtCountdown(D.remainingMs));
  }
}

function onQuestionOpen(msg, receivedAt) {
  const idx = Number(msg.question_idx);
  D.questions.set(idx, msg);
  D.mode = "open";
  D.reveal = null;
  D.skipped = false;
  D.paused = msg.paused === true;
  D.waitingExtra = 0;
  D.asked.add(idx);
  announced = new Set();
  if (!D.histogram || D.histogram.question_idx !== idx) D.histogram = null;
  setState(D.paused ? "question_paused" : "question_open", idx);
  syncCountdown(msg.remaining_ms ?? Number(msg.time_limit) * 1000, receivedAt);
  renderQuestion();
}

/** Paused, resumed or extended: the new limit and what is left. */
function onQuestionTiming(msg, receivedAt) {
  const idx = Number(msg.question_idx);
  const q = D.questions.get(idx);
  if (q && msg.time_limit !== undefined) q.time_limit = msg.time_limit;
  if (idx !== D.currentIdx || D.mode !== "open") return;
  D.paused = msg.paused === true;
  if (msg.type === "question_extended") D.waitingExtra = 0;
  setState(D.paused ? "question_paused" : "question_open", idx);
  syncCountdown(msg.remaining_ms, receivedAt);
  renderQuestion();
}

function onQuestionSkipped(msg) {
  const idx = Number(msg.question_idx);
  D.mode = "closed";
  D.skipped = true;
  D.paused = false;
  D.reveal = null;
  D.waitingExtra = 0;
  countdown.stop();
  setState("question_closed", idx);
  renderQuestion();
}

function onLiveHistogram(msg) {
  D.histogram = {
    question_idx: Number(msg.question_idx),
    counts: msg.histogram || {},
    distribution: msg.distribution || null,
    submitted: msg.submitted_count,
    total: msg.total_count,
  };
  if (Number(msg.question_idx) === D.currentIdx && D.mode === "open") {
    D.waitingExtra = Number(msg.waiting_for_extra_time) || 0;
    renderControls();
    renderQuestion();
  }
}

function onQuestionClosed(msg) {
  const idx = Number(msg.question_idx);
  D.mode = "closed";
  D.skipped = false;
  D.paused = false;
  D.waitingExtra = 0;
  D.reveal = {
    question_idx: idx,
    correct: msg.correct,
    explanation: msg.explanation || "",
    explanation_html: msg.explanation_html || "",
  };
  const counts = msg.histogram || {};
  D.histogram = {
    question_idx: idx,
    counts,
    distribution: msg.distribution || null,
    submitted: answeredCount(idx, counts, msg.distribution),
    total: null,
  };
  countdown.stop();
  setState("question_closed", idx);
  renderQuestion();
}

/**
 * How many answered the closed question: the option counts of a single-answer question, the
 * numbers given to a numeric one; otherwise the last live count, or the students marked
 * as having answered it.
 */
function answeredCount(idx, counts, distribution) {
  const q = D.questions.get(idx);
  const type = q ? q.question_type || "single" : "single";
  if (q && questionKeys(q).length && type !== "multiple") {
    return questionKeys(q).reduce((a, k) => a + (Number(counts[k]) || 0), 0);
  }
  if (type === "numeric" && distribution && Number.isFinite(Number(distribution.count))) return Number(distribution.count);
  if (D.histogram && D.histogram.question_idx === idx && Number.isFinite(Number(D.histogram.submitted))) return Number(D.histogram.submitted);
  return presence.questionIdx === idx ? presence.answered : 0;
}

const TYPE_KEYS = {
  single: "dash.type_single",
  multiple: "dash.type_multiple",
  true_false: "dash.type_true_false",
  numeric: "dash.type_numeric",
  text: "dash.type_text",
  poll: "dash.type_poll",
};

function isOpenPoll(q) {
  return q.question_type === "poll" && (q.open === true || questionKeys(q).length === 0);
}

/** The right answer in words, per type: "B: 4", "B; D", "True", "7 ± 0.5 m", the accepted texts. */
function correctText(q, reveal) {
  const type = q.question_type || "single";
  const correct = reveal.correct;
  if (type === "poll") return t("dash.no_correct_poll");
  if (type === "numeric") return numericAnswerText(correct, q.unit || "");
  if (type === "text") return Array.isArray(correct) ? correct.join(" · ") : "";
  const keys = Array.from(correctKeySet(type, correct));
  if (type === "true_false") return keys.map((k) => keyLabel(type, k)).join(", ");
  return keys
    .map((k) => {
      const text = q.options ? q.options[k] : undefined;
      return text === undefined ? k : t("common.option", { key: k, text });
    })
    .join("; ");
}

function renderQuestion() {
  const q = D.currentIdx !== null ? D.questions.get(D.currentIdx) : null;
  const show = D.mode !== "none" && q;
  $("q-empty").hidden = !!show;
  $("q-body").hidden = !show;
  $("q-timer-wrap").hidden = D.mode !== "open";
  $("q-paused").hidden = !(D.mode === "open" && D.paused);
  if (!show) return;
  const type = q.question_type || "single";
  const keys = questionKeys(q);
  const closed = D.mode === "closed";
  const right = closed && D.reveal ? correctKeySet(type, D.reveal.correct) : new Set();
  const counter = D.totalQuestions
    ? t("question.counter", { n: D.currentIdx + 1, total: D.totalQuestions })
    : t("question.counter_open_end", { n: D.currentIdx + 1 });
  const status = D.skipped ? "dash.status_skipped" : closed ? "current.status_closed" : D.paused ? "dash.status_paused" : "current.status_open";
  const kind = t(isOpenPoll(q) ? "dash.type_open_poll" : TYPE_KEYS[type] || "dash.type_single");
  const weighted = q.scored !== false && Number(q.points) && Number(q.points) !== 1;
  const limit = weighted ? `${pointsText(Number(q.points))} · ${formatDuration(q.time_limit)}` : formatDuration(q.time_limit);
  setText("q-meta", t("current.meta", { counter: `${counter} · ${kind}`, limit, status: t(status) }));
  const contentKey = `${D.currentIdx}:${q.opened_at_server_ts}`;
  if ($("q-text").dataset.key !== contentKey) {
    $("q-text").dataset.key = contentKey;
    setRenderedHtml($("q-text"), q.text_html, q.text ?? "");
    const img = $("q-img");
    if (q.image && typeof q.image.url === "string") {
      img.src = q.image.url;
      img.alt = String(q.image.alt || "");
    } else {
      img.removeAttribute("src");
      img.alt = "";
    }
    $("q-figure").hidden = !(q.image && q.image.url);
  }
  $("q-skipped").hidden = !D.skipped;
  const waiting = D.mode === "open" && !D.paused ? D.waitingExtra : 0;
  if (waiting > 0) setT("q-waiting", "dash.waiting_extra", { count: waiting });
  $("q-waiting").hidden = waiting === 0;

  setChildren(
    $("q-options"),
    keys.map((k) => {
      const text = el("span", { dir: "auto", class: "q-option-text" });
      if (type === "true_false") setText(text, keyLabel(type, k));
      else setRenderedHtml(text, q.options_html && q.options_html[k], q.options[k]);
      return el(
        "li",
        { class: `q-option${right.has(k) ? " is-correct" : ""}` },
        type === "true_false" ? null : el("span", { class: `opt-letter opt-${k}`, "aria-hidden": "true" }, k),
        el("span", { class: "visually-hidden" }, `${keyLabel(type, k)}: `),
        text,
        right.has(k) ? tEl("span", { class: "correct-badge" }, "current.correct_badge") : null,
      );
    }),
  );

  const h = D.histogram && D.histogram.question_idx === D.currentIdx ? D.histogram : null;
  const counts = h ? h.counts : {};
  if (keys.length) {
    const items = keys.map((k) => ({
      key: k,
      label: keyLabel(type, k),
      count: counts[k] || 0,
      className: `bar-${k}${right.has(k) ? " bar-correct" : ""}`,
      note: right.has(k) ? t("current.correct_note") : "",
    }));
    if (D.mode === "open") items.push({ key: "pending", label: t("current.pending"), count: counts.pending || 0, className: "bar-muted" });
    else items.push({ key: "missed", label: t("current.missed"), count: counts.missed || 0, className: "bar-muted" });
    bars.update(items);
  } else {
    bars.update([]);
  }
  $("q-bars").hidden = keys.length === 0;
  if (D.mode === "open") {
    const pending = Number(counts.pending) || 0;
    setText(
      "q-counts",
      h ? t("current.counts_open", { count: Number(h.submitted) || 0, total: Number(h.total) || 0, pending }) : t("current.waiting"),
    );
  } else {
    setText("q-counts", h && !D.skipped ? t("current.counts_closed", { count: Number(h.submitted) || 0, missed: Number(counts.missed) || 0 }) : "");
  }
  renderDistribution(q, type, h, closed);

  const reveal = $("q-reveal");
  reveal.hidden = !closed || !D.reveal || D.skipped;
  if (D.reveal && closed && !D.skipped) {
    setText("q-correct", correctText(q, D.reveal));
    setRenderedHtml($("q-explanation"), D.reveal.explanation_html, D.reveal.explanation);
    $("q-explanation").hidden = !D.reveal.explanation;
  }
}

/**
 * The spread of the answers for the types without options, live and at the reveal: a
 * numeric question's histogram (bins with the right range marked: the instructor may see
 * it), the most frequent texts (accepted ones marked at the reveal).
 */
function renderDistribution(q, type, h, closed) {
  const dist = h && h.distribution ? h.distribution : null;
  const note = $("q-dist-note");
  let items = [];
  let noteText = "";
  if (type === "numeric" && dist && Array.isArray(dist.bins)) {
    const decimals = binDecimals(dist.bins);
    const range = closed && D.reveal && D.reveal.correct && D.reveal.correct.range ? D.reveal.correct.range : dist.right;
    items = dist.bins.map((b, i) => {
      const right = binInRange(b, range);
      return {
        key: String(i),
        label: binLabel(b, decimals),
        count: b.count,
        className: right ? "bar-correct" : "",
        note: right ? t("dash.in_range") : "",
      };
    });
    if (Array.isArray(dist.right)) noteText = t("dash.right_range", { range: numericAnswerText({ range: dist.right }, q.unit || "") });
  } else if ((type === "text" || isOpenPoll(q)) && dist && Array.isArray(dist.top)) {
    const accepted = closed && D.reveal && Array.isArray(D.reveal.correct) ? new Set(D.reveal.correct.map(foldAnswer)) : new Set();
    items = dist.top.map((e, i) => {
      const right = typeof e.correct === "boolean" ? e.correct && closed : accepted.has(foldAnswer(e.text));
      return {
        key: String(i),
        label: e.text,
        count: e.count,
        className: right ? "bar-correct" : "",
        note: right ? t("current.correct_note") : "",
      };
    });
    if (Number(dist.distinct) > 0) noteText = t("pj.distinct", { count: Number(dist.distinct) });
  }
  distBars.update(items);
  $("q-dist").hidden = items.length === 0;
  setText(note, noteText);
  note.hidden = !noteText;
}

// ------------------------------------------------------------------ tables that render what is in view

// A class of 10,000 is 10,000 rows. The student table and the leaderboard put in the page
// only the rows in view, plus a margin either side, between two empty spacers that keep
// the scroll height of the whole list; the rest of the list lives in memory. Screen readers
// get the size from aria-rowcount and each row's place from aria-rowindex (the header is row 1).
const WINDOW_MARGIN_ROWS = 8;
const ROW_PX_GUESS = 34; // until a row has been measured
const FLEXIBLE_MIN_PX = 96; // the name column, at least
const PROBE_ID = "0000000000"; // an ID of ten characters fits; a longer one ends in "…"

function spacer(columns) {
  const cell = el("td", { colspan: String(columns) });
  return { tbody: el("tbody", { class: "v-spacer", "aria-hidden": "true", hidden: true }, el("tr", null, cell)), cell };
}

function setSpacer(part, px) {
  part.tbody.hidden = px <= 0;
  part.cell.style.height = `${px}px`;
}

/**
 * The rows of `body` (a <tbody> of `table`, inside its `.table-scroll`) as a window over a
 * list: setRows(list) shows a new list, scrolling moves the window. `key(item)` names an
 * item's row, `make(key)` builds it once ({tr, ...}), `fill(row, item)` writes an item into
 * it, and only when `signature(item)` changed. Rows leaving the window leave the page.
 *
 * Columns have fixed widths, so they do not shift as other rows scroll in: each as wide as
 * its header and the widest content it can hold (the rows `probes()` builds), measured in
 * the page's language; the `flexible` column (the name) takes the rest.
 */
class WindowedRows {
  constructor({ table, body, columns, key, make, fill, signature, probes, flexible }) {
    this.table = table;
    this.body = body;
    this.scroller = table.closest(".table-scroll");
    this.key = key;
    this.make = make;
    this.fill = fill;
    this.signature = signature;
    this.probes = probes;
    this.flexible = flexible;
    this.fitted = false;
    this.items = [];
    this.live = new Map(); // key -> row, the rows in the page
    this.rowPx = ROW_PX_GUESS;
    this.frame = null;
    this.before = spacer(columns);
    this.after = spacer(columns);
    body.before(this.before.tbody);
    body.after(this.after.tbody);
    // No scroll anchoring: the spacers change under the reader and the window follows scrollTop alone.
    this.scroller.classList.add("windowed");
    // Where keyboard focus goes when the row holding it leaves the window (unless the page
    // already made the scroller a stop of its own, for a table without buttons).
    if (!this.scroller.hasAttribute("tabindex")) this.scroller.tabIndex = -1;
    this.scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    window.addEventListener("resize", () => this.schedule());
  }

  /** Show `items` (the whole list, in order; the caller keeps no other reference to change it). */
  setRows(items) {
    this.items = items;
    this.table.setAttribute("aria-rowcount", String(items.length + 1));
    this.render();
  }

  /** Every row is written again, and the columns measured again, at the next render (the language changed). */
  invalidate() {
    for (const row of this.live.values()) row.sig = null;
    this.fitted = false;
  }

  /** Measure each column's width once (in the automatic table layout, as narrow as it goes), then fix them. */
  fitColumns() {
    const table = this.table;
    const heads = Array.from(table.tHead.rows[0].cells);
    table.classList.remove("fitted");
    table.classList.add("fitting");
    table.style.minWidth = "";
    for (const th of heads) th.style.width = "";
    const shown = Array.from(this.body.children);
    this.body.replaceChildren(...this.probes());
    const widths = heads.map((th) => Math.ceil(th.getBoundingClientRect().width) + 1);
    this.body.replaceChildren(...shown);
    table.classList.remove("fitting");
    let fixed = 0;
    heads.forEach((th, i) => {
      if (i === this.flexible) return;
      th.style.width = `${widths[i]}px`;
      fixed += widths[i];
    });
    table.style.minWidth = `${fixed + Math.max(widths[this.flexible], FLEXIBLE_MIN_PX)}px`;
    table.classList.add("fitted");
    this.fitted = widths.every((w) => w > 1); // a table out of the layout (hidden) measures 0: again later
  }

  schedule() {
    if (this.frame !== null) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  render() {
    const items = this.items;
    const scroller = this.scroller;
    if (!this.fitted && !scroller.hidden) this.fitColumns();
    const headPx = this.table.tHead ? this.table.tHead.offsetHeight : 0;
    // The scroller grows with its rows up to its max-height: the window fills that height.
    const maxPx = parseFloat(getComputedStyle(scroller).maxHeight);
    const viewPx = Number.isFinite(maxPx) ? maxPx : scroller.clientHeight || window.innerHeight;
    const rowPx = this.rowPx;
    const inView = Math.ceil(viewPx / rowPx) + 1;
    const firstInView = Math.min(Math.floor(Math.max(0, scroller.scrollTop - headPx) / rowPx), Math.max(0, items.length - inView));
    const first = Math.max(0, firstInView - WINDOW_MARGIN_ROWS);
    const end = Math.min(items.length, firstInView + inView + WINDOW_MARGIN_ROWS);

    const previous = this.live;
    const live = new Map();
    const trs = [];
    for (let i = first; i < end; i += 1) {
      const item = items[i];
      const k = this.key(item);
      const row = previous.get(k) || this.make(k);
      const sig = this.signature(item);
      if (row.sig !== sig) {
        this.fill(row, item);
        row.sig = sig;
      }
      row.item = item;
      if (row.index !== i) {
        row.index = i;
        row.tr.setAttribute("aria-rowindex", String(i + 2));
      }
      live.set(k, row);
      trs.push(row.tr);
    }
    this.live = live;
    this.place(trs, previous);
    setSpacer(this.before, first * rowPx);
    setSpacer(this.after, (items.length - end) * rowPx);

    const measured = trs.length ? trs[0].getBoundingClientRect().height : 0;
    if (measured > 0 && Math.abs(measured - rowPx) > 0.5) {
      this.rowPx = measured;
      this.schedule();
    }
  }

  /** Put `trs` in the body in this order, moving as few as possible (a row that stays keeps focus and hover). */
  place(trs, previous) {
    const body = this.body;
    const active = document.activeElement;
    const focused = active && body.contains(active) ? active : null;
    for (const [k, row] of previous) if (!this.live.has(k)) row.tr.remove();
    let cursor = body.firstElementChild;
    for (const tr of trs) {
      if (cursor === tr) cursor = cursor.nextElementSibling;
      else body.insertBefore(tr, cursor);
    }
    if (focused && document.activeElement !== focused) {
      if (body.contains(focused)) focused.focus({ preventScroll: true });
      else this.scroller.focus({ preventScroll: true });
    }
  }
}

// ------------------------------------------------------------------ leaderboard

const leaderboardRows = new WindowedRows({
  table: $("lb-table"),
  body: $("lb-body"),
  columns: 4,
  key: (r) => String(r.student_id ?? `${r.rank}\u0001${r.name}`),
  make: () => {
    const cells = [el("td", { class: "num" }), el("td", { dir: "auto" }), el("td", { class: "mono" }), el("td", { class: "num" })];
    return { tr: el("tr", null, ...cells), cells, sig: null };
  },
  fill: (row, r) => {
    const [rank, name, id, score] = row.cells;
    rank.textContent = formatNumber(r.rank);
    name.textContent = r.name ?? "";
    id.textContent = r.student_id ?? "";
    score.textContent = fmtScore(r.score);
  },
  signature: (r) => `${r.rank}\u0001${r.name}\u0001${r.student_id}\u0001${r.score}`,
  probes() {
    const row = this.make();
    this.fill(row, { rank: 88888, name: "", student_id: PROBE_ID, score: 888.88 });
    return [row.tr];
  },
  flexible: 1,
});

function renderLeaderboard(rows) {
  D.leaderboard = rows;
  $("lb-empty").hidden = rows.length > 0;
  $("lb-table").closest(".table-scroll").hidden = rows.length === 0;
  leaderboardRows.setRows(rows);
  setText("lb-count", rows.length ? t("board.count", { count: rows.length }) : "");
}

// ------------------------------------------------------------------ lobby + orphans

// The lists beside the tables show at most this many entries, and say how many more there are.
const LIST_LIMIT = 200;

function renderMore(id, hiddenCount) {
  if (hiddenCount > 0) setT(id, "dash.more_not_shown", { count: hiddenCount });
  $(id).hidden = hiddenCount <= 0;
}

let lobbyShown = "";

/** Everyone who joined (up to 300), or for a larger class the count and the latest names the server sends. */
function renderLobby() {
  const list = D.participants;
  setText("lobby-count", formatNumber(D.participantCount));
  const shown = list.map((p) => `${p.student_id}\u0001${p.name}`).join("\u0002");
  if (shown !== lobbyShown) {
    lobbyShown = shown;
    const frag = document.createDocumentFragment();
    for (const p of list) {
      frag.appendChild(el("li", null, el("bdi", { class: "lobby-name" }, p.name), " ", el("bdi", { class: "muted mono" }, p.student_id)));
    }
    $("lobby-list").replaceChildren(frag);
  }
  $("lobby-empty").hidden = list.length > 0;
  $("lobby-list").hidden = list.length === 0;
  const note = $("lobby-note");
  if (D.lobbyTruncated) setT(note, "dash.lobby_latest", { shown: list.length, count: D.participantCount });
  note.hidden = !D.lobbyTruncated;
}

function dupInfo(row) {
  const d = row.duplicate_join_attempts;
  if (d && typeof d === "object") return { count: Number(d.count) || 0, latest_ts: d.latest_ts, latest_detail: d.latest_detail };
  return { count: Number(d) || 0 };
}

function detailText(detail) {
  if (detail === null || detail === undefined || detail === "") return "";
  let text = typeof detail === "string" ? detail : JSON.stringify(detail);
  if (text.length > 160) text = `${text.slice(0, 157)}…`;
  return text;
}

function renderOrphans() {
  const frag = document.createDocumentFragment();
  for (const o of D.orphans.slice(0, LIST_LIMIT)) {
    const detail = detailText(o.latest_detail);
    frag.appendChild(
      el(
        "li",
        null,
        el("bdi", { class: "mono" }, o.student_id),
        ` · ${t("orphans.item", { count: Number(o.count) || 0, time: fmtClock(toEpochMs(o.latest_ts)) })}`,
        detail ? el("span", { class: "muted small block" }, detail) : null,
      ),
    );
  }
  $("orphan-list").replaceChildren(frag);
  $("orphan-empty").hidden = D.orphans.length > 0;
  renderMore("orphan-more", D.orphans.length - LIST_LIMIT);
}

// ------------------------------------------------------------------ roster

/** Where a refused join came from: the address in `{"from": "address user-agent"}`. */
function attemptAddress(detail) {
  let from = "";
  try {
    const parsed = typeof detail === "string" ? JSON.parse(detail) : detail;
    from = parsed && typeof parsed.from === "string" ? parsed.from : "";
  } catch {
    from = typeof detail === "string" ? detail : "";
  }
  const space = from.indexOf(" ");
  return { address: space > 0 ? from.slice(0, space) : from, agent: space > 0 ? from.slice(space + 1) : "" };
}

/** With a class list: who has not joined yet, and the IDs refused for not being on it (the latest first). */
function renderRoster() {
  const roster = D.roster;
  $("roster-panel").hidden = !roster;
  if (!roster) return;
  const notJoined = roster.notJoined || [];
  setText("not-joined-count", formatNumber(notJoined.length));
  $("not-joined-count").setAttribute("aria-label", t("presence.not_joined_count", { count: notJoined.length }));
  setChildren(
    $("not-joined-list"),
    notJoined
      .slice(0, LIST_LIMIT)
      .map((s) => el("li", null, el("bdi", { class: "lobby-name" }, s.name || ""), " ", el("bdi", { class: "muted mono" }, s.student_id))),
  );
  $("not-joined-list").hidden = notJoined.length === 0;
  $("not-joined-empty").hidden = notJoined.length > 0;
  renderMore("not-joined-more", notJoined.length - LIST_LIMIT);
  const refused = (roster.refused || []).slice().sort((a, b) => (toEpochMs(b.latest_ts) || 0) - (toEpochMs(a.latest_ts) || 0));
  setChildren(
    $("refused-body"),
    refused.slice(0, LIST_LIMIT).map((r) => {
      const { address, agent } = attemptAddress(r.latest_detail);
      return el(
        "tr",
        null,
        el("td", { class: "mono" }, el("bdi", null, r.student_id)),
        el("td", null, fmtClock(toEpochMs(r.latest_ts))),
        el("td", { class: "num" }, formatNumber(Number(r.count) || 0)),
        el("td", { class: "mono", title: agent || null }, address || "—"),
      );
    }),
  );
  $("refused-wrap").hidden = refused.length === 0;
  $("refused-empty").hidden = refused.length > 0;
  renderMore("refused-more", refused.length - LIST_LIMIT);
}

// ------------------------------------------------------------------ presence: everyone, in memory

/**
 * Everyone's row by student ID, kept as the server's messages change it: a presence_update
 * is the whole table, a presence_delta (a class over 300) the rows that changed. The counts
 * the status line and the filters show are kept with the rows, so a message costs what it
 * changed, never a pass over the class.
 *
 * An entry: {id, row (as sent), search (ID and name in lower case), idKey (see idSortKey),
 * flagged, k (its sort key where it sits in `order.list`), placed (it is in that list)}.
 */
const presence = {
  rows: new Map(),
  questionIdx: null,
  connected: 0,
  answered: 0,
  flagged: 0,
};

/**
 * An ID as a plain string that sorts like the people reading it: case folded, and each run
 * of digits led by its length, so s2 comes before s10 (what a numeric collator does, at the
 * cost of a string comparison: sorting 10,000 IDs with Intl.Collator takes ~60 ms).
 */
function idSortKey(id) {
  return id.toLowerCase().replace(/\d+/g, (digits) => {
    const value = digits.replace(/^0+(?=\d)/, "");
    return String.fromCharCode(0x30 + Math.min(value.length, 0x4f)) + value;
  });
}

function isFlagged(row) {
  return (Number(row.blur_count) || 0) + (Number(row.hidden_count) || 0) + dupInfo(row).count > 0;
}

function tally(entry, sign) {
  if (entry.row.connected) presence.connected += sign;
  if (entry.row.answered_current) presence.answered += sign;
  if (entry.flagged) presence.flagged += sign;
}

function upsertRow(row) {
  const id = String(row.student_id);
  let entry = presence.rows.get(id);
  if (entry) {
    tally(entry, -1);
    if (entry.row.name !== row.name) entry.search = `${id}\n${row.name ?? ""}`.toLowerCase();
    entry.row = row;
  } else {
    entry = { id, row, search: `${id}\n${row.name ?? ""}`.toLowerCase(), idKey: idSortKey(id), k: null, placed: false };
    presence.rows.set(id, entry);
  }
  entry.flagged = isFlagged(row);
  tally(entry, 1);
  order.moved.add(entry);
}

function removeRow(id) {
  const entry = presence.rows.get(id);
  if (!entry) return;
  tally(entry, -1);
  presence.rows.delete(id);
  order.moved.delete(entry);
  if (entry.placed) order.gone.push(entry);
}

/** A new question: nobody has answered it (the server sends no rows for that). */
function clearAnswered() {
  for (const entry of presence.rows.values()) {
    if (!entry.row.answered_current) continue;
    entry.row.answered_current = false;
    order.moved.add(entry);
  }
  presence.answered = 0;
}

// ------------------------------------------------------------------ presence: the order

const COLUMNS = [
  { key: "student_id", label: "common.student_id", sortKey: (e) => e.idKey, id: true },
  { key: "name", label: "common.name", sortKey: (e) => String(e.row.name ?? ""), text: true },
  { key: "connected", label: "presence.col_status", sortKey: (e) => (e.row.connected ? 1 : 0) },
  {
    key: "last_seen",
    label: "presence.col_last_seen",
    sortKey: (e) => (e.row.connected ? Number.MAX_SAFE_INTEGER : toEpochMs(e.row.last_seen_ms) || 0),
  },
  { key: "blur", label: "presence.col_blur", sortKey: (e) => Number(e.row.blur_count) || 0, num: true },
  { key: "hidden", label: "presence.col_hidden", sortKey: (e) => Number(e.row.hidden_count) || 0, num: true },
  { key: "dup", label: "presence.col_dup", sortKey: (e) => dupInfo(e.row).count, num: true },
  { key: "answered", label: "presence.col_answered", sortKey: (e) => (e.row.answered_current ? 1 : 0) },
  { key: "actions", label: "presence.col_actions", sortable: false },
];

// Sorting by name follows the dashboard's language (re-made when it changes).
let collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function byId(a, b) {
  if (a.idKey !== b.idKey) return a.idKey < b.idKey ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The table's order: the sort column's key (each entry's `k`) in the sort direction, then the ID. */
function comparator(col, dir) {
  if (col.id) return (a, b) => dir * byId(a, b);
  if (col.text) return (a, b) => dir * collator.compare(a.k, b.k) || byId(a, b);
  return (a, b) => dir * (a.k - b.k) || byId(a, b);
}

/**
 * Everyone, sorted, kept up to date a few times a second: rows whose sort key did not
 * change stay where they are, a few that did are moved by binary search, and only when
 * many moved (or the sort changed) is everything sorted again.
 */
const order = {
  list: [],
  compare: null,
  column: null,
  stale: true,
  moved: new Set(), // entries added or changed since the last refresh
  gone: [], // entries removed since, still in `list`
};

function sortColumn() {
  return COLUMNS.find((c) => c.key === D.sortKey) || COLUMNS[0];
}

function resort() {
  order.stale = true;
}

/** The first index whose entry does not sort before `entry` (by `entry.k`). */
function lowerBound(list, entry) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order.compare(list[mid], entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function unplace(entry) {
  let at = lowerBound(order.list, entry);
  if (order.list[at] !== entry) at = order.list.indexOf(entry);
  if (at >= 0) order.list.splice(at, 1);
  entry.placed = false;
}

function refreshOrder() {
  const col = sortColumn();
  const changed = [];
  if (!order.stale) {
    for (const entry of order.moved) {
      const k = col.sortKey(entry);
      if (!entry.placed || k !== entry.k) changed.push([entry, k]);
    }
  }
  order.moved.clear();
  if (order.stale || changed.length + order.gone.length > Math.max(64, order.list.length / 8)) {
    order.column = col;
    order.compare = comparator(col, D.sortDir);
    const list = Array.from(presence.rows.values());
    for (const entry of list) {
      entry.k = col.sortKey(entry);
      entry.placed = true;
    }
    list.sort(order.compare);
    order.list = list;
    order.gone = [];
    order.stale = false;
    return;
  }
  for (const entry of order.gone) unplace(entry);
  order.gone = [];
  for (const [entry, k] of changed) {
    if (entry.placed) unplace(entry);
    entry.k = k;
    order.list.splice(lowerBound(order.list, entry), 0, entry);
    entry.placed = true;
  }
}

const FILTERS = {
  connected: (e) => !!e.row.connected,
  disconnected: (e) => !e.row.connected,
  unanswered: (e) => !e.row.answered_current,
  answered: (e) => !!e.row.answered_current,
  flagged: (e) => e.flagged,
};

/** The rows the filter and the search keep, in the table's order. */
function shownRows() {
  const needle = $("presence-filter").value.trim().toLowerCase();
  const test = FILTERS[$("presence-show").value];
  if (!needle && !test) return order.list.slice();
  const shown = [];
  for (const entry of order.list) {
    if (needle && !entry.search.includes(needle)) continue;
    if (test && !test(entry)) continue;
    shown.push(entry);
  }
  return shown;
}

// ------------------------------------------------------------------ presence: the table

function buildHead() {
  const cells = COLUMNS.map((c) => {
    if (c.sortable === false) return tEl("th", { scope: "col", class: `col-${c.key}` }, c.label);
    return el(
      "th",
      { scope: "col", class: `col-${c.key}${c.num ? " num" : ""}`, dataset: { key: c.key } },
      el(
        "button",
        { type: "button", class: "sort-button", dataset: { key: c.key } },
        tEl("span", null, c.label),
        el("span", { class: "sort-ind", "aria-hidden": "true" }),
      ),
    );
  });
  setChildren($("presence-head"), cells);
  updateSortIndicators();
}

function updateSortIndicators() {
  for (const th of $("presence-head").querySelectorAll("th[data-key]")) {
    const active = th.dataset.key === D.sortKey;
    if (active) th.setAttribute("aria-sort", D.sortDir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
    th.querySelector(".sort-ind").textContent = active ? (D.sortDir > 0 ? " ▲" : " ▼") : "";
  }
}

$("presence-head").addEventListener("click", (ev) => {
  const button = ev.target.closest("button.sort-button");
  if (!button) return;
  const key = button.dataset.key;
  if (D.sortKey === key) D.sortDir = -D.sortDir;
  else {
    D.sortKey = key;
    // Text columns read best A→Z; counts and flags most-first.
    const col = COLUMNS.find((c) => c.key === key);
    D.sortDir = col && (col.text || col.id) ? 1 : -1;
  }
  updateSortIndicators();
  resort();
  schedulePresence(true);
});

$("presence-filter").addEventListener("input", () => schedulePresence(true));
$("presence-show").addEventListener("change", () => schedulePresence(true));

function lastSeenText(r) {
  if (r.connected) return t("presence.now");
  const seenAt = toEpochMs(r.last_seen_ms);
  return Number.isFinite(seenAt) && seenAt > 0 ? fmtAgo(clock.now() - seenAt) : "—";
}

function makeRow(id) {
  const cells = {
    id: el("td", { class: "mono" }, id),
    name: el("td", { dir: "auto" }),
    status: el("span", { class: "pill" }),
    seen: el("td"),
    blur: el("td", { class: "num" }),
    hidden: el("td", { class: "num" }),
    dup: el("td", { class: "num" }),
    answered: el("span"),
    clear: tEl("button", { type: "button", class: "btn btn-small clear-button", dataset: { studentId: id } }, "presence.clear"),
  };
  const tr = el(
    "tr",
    null,
    cells.id,
    cells.name,
    el("td", null, cells.status),
    cells.seen,
    cells.blur,
    cells.hidden,
    cells.dup,
    el("td", null, cells.answered),
    el("td", null, cells.clear),
  );
  return { tr, cells, sig: null };
}

function fillRow(entry, r) {
  const c = entry.cells;
  const dup = dupInfo(r);
  const flagged = dup.count > 0;
  entry.tr.className = `${r.connected ? "" : "is-offline"}${flagged ? " is-flagged" : ""}`.trim();
  c.id.title = String(r.student_id ?? "");
  c.name.textContent = r.name ?? "";
  c.name.title = r.name ?? "";
  c.status.className = `pill ${r.connected ? "pill-on" : "pill-off"}`;
  c.status.textContent = t(r.connected ? "presence.online" : "presence.offline");
  c.seen.textContent = lastSeenText(r);
  c.blur.className = `num${r.blur_count ? " warn" : ""}`;
  c.blur.textContent = formatNumber(r.blur_count ?? 0);
  c.hidden.className = `num${r.hidden_count ? " warn" : ""}`;
  c.hidden.textContent = formatNumber(r.hidden_count ?? 0);
  c.dup.className = `num${flagged ? " alert" : ""}`;
  c.dup.textContent = formatNumber(dup.count);
  if (flagged) {
    const time = fmtClock(toEpochMs(dup.latest_ts));
    c.dup.title = dup.latest_detail
      ? t("presence.latest_attempt_detail", { time, detail: detailText(dup.latest_detail) })
      : t("presence.latest_attempt", { time });
  } else {
    c.dup.removeAttribute("title");
  }
  c.answered.className = r.answered_current ? "pill pill-on" : "muted";
  c.answered.textContent = t(r.answered_current ? "common.yes" : "common.no");
  c.clear.setAttribute("aria-label", t("presence.clear_label", { name: r.name, id: r.student_id }));
}

function rowSignature(r) {
  const d = dupInfo(r);
  return [r.name, r.connected, r.last_seen_ms, r.blur_count, r.hidden_count, d.count, d.latest_ts, d.latest_detail, r.answered_current].join("\u0001");
}

const presenceRows = new WindowedRows({
  table: $("presence-table"),
  body: $("presence-body"),
  columns: COLUMNS.length,
  key: (entry) => entry.id,
  make: makeRow,
  fill: (row, entry) => fillRow(row, entry.row),
  signature: (entry) => rowSignature(entry.row),
  // The widest of each column: offline and online, "now" and an hour ago, three-digit counts.
  probes: () =>
    [true, false].map((on) => {
      const row = makeRow(PROBE_ID);
      const attempts = { count: 888, latest_ts: null, latest_detail: null };
      fillRow(row, {
        student_id: PROBE_ID,
        name: "",
        connected: on,
        last_seen_ms: clock.now() - 59 * 60000,
        blur_count: 888,
        hidden_count: 888,
        duplicate_join_attempts: attempts,
        answered_current: on,
      });
      return row.tr;
    }),
  flexible: 1,
});

/** The filter menu says how many each choice shows. */
function renderFilterCounts() {
  const total = presence.rows.size;
  const counts = {
    all: total,
    connected: presence.connected,
    disconnected: total - presence.connected,
    unanswered: total - presence.answered,
    answered: presence.answered,
    flagged: presence.flagged,
  };
  for (const option of $("presence-show").options) {
    const text = t("presence.show_count", { label: t(option.dataset.label), count: counts[option.value] ?? 0 });
    if (option.textContent !== text) setText(option, text);
  }
}

function renderPresence() {
  refreshOrder();
  const shown = shownRows();
  const total = presence.rows.size;
  $("presence-empty").hidden = total > 0;
  presenceRows.scroller.hidden = total === 0;
  presenceRows.setRows(shown);
  const summary = { count: total, online: presence.connected, shown: shown.length };
  setText("presence-summary", t(shown.length !== total ? "presence.summary_filtered" : "presence.summary", summary));
  renderFilterCounts();
}

$("presence-body").addEventListener("click", (ev) => {
  const button = ev.target.closest("button.clear-button");
  if (!button) return;
  const id = button.dataset.studentId;
  const entry = presence.rows.get(id);
  const who = entry ? `${entry.row.name} (${id})` : id;
  if (window.confirm(t("presence.confirm_clear", { who }))) {
    send({ type: "clear_student", student_id: id });
  }
});

// Refresh the "last seen" cells of the rows in view without rebuilding them.
window.setInterval(() => {
  for (const row of presenceRows.live.values()) {
    const r = row.item.row;
    if (!r.connected) row.cells.seen.textContent = lastSeenText(r);
  }
}, 5000);

// ------------------------------------------------------------------ render scheduling

// The table is brought up to date at most this often while messages come in (a large
// class's presence comes once a second, a small one's up to five times); what the
// instructor does (sort, filter, search, scroll) shows at the next frame.
const PRESENCE_EVERY_MS = 250;
let presenceTimer = null;
let presenceFrame = null;
let presenceAt = -Infinity;

function schedulePresence(now = false) {
  if (presenceFrame !== null) return;
  if (!now && presenceTimer !== null) return;
  window.clearTimeout(presenceTimer);
  const wait = now ? 0 : Math.max(0, presenceAt + PRESENCE_EVERY_MS - performance.now());
  presenceTimer = window.setTimeout(() => {
    presenceTimer = null;
    presenceFrame = window.requestAnimationFrame(() => {
      presenceFrame = null;
      presenceAt = performance.now();
      renderPresence();
    });
  }, wait);
}

const dirty = new Set();
let frame = null;

function scheduleRender(what) {
  dirty.add(what);
  if (frame !== null) return;
  frame = window.requestAnimationFrame(() => {
    frame = null;
    const todo = Array.from(dirty);
    dirty.clear();
    for (const w of todo) {
      if (w === "lobby") renderLobby();
      else if (w === "orphans") renderOrphans();
      else if (w === "roster") renderRoster();
    }
  });
}

// ------------------------------------------------------------------ boot

/** After a change in the language menu: re-render what this page composes from messages. */
function onLanguageChange() {
  collator = new Intl.Collator(document.documentElement.lang, { numeric: true, sensitivity: "base" });
  presenceRows.invalidate();
  leaderboardRows.invalidate();
  resort();
  renderControls();
  renderQuestion();
  renderLeaderboard(D.leaderboard || []);
  renderLobby();
  renderOrphans();
  renderRoster();
  schedulePresence(true);
}

await initPageLanguage({ storageKey: LANGUAGE_KEY, menu: $("lang-select"), onChange: onLanguageChange });
collator = new Intl.Collator(document.documentElement.lang, { numeric: true, sensitivity: "base" });
// The filter menu's labels, kept before their counts replace the translated text.
for (const option of $("presence-show").options) option.dataset.label = option.getAttribute("data-i18n");
buildHead();
renderControls();
renderQuestion();
renderLeaderboard([]);
renderLobby();
renderOrphans();
schedulePresence(true);
startSocket();
