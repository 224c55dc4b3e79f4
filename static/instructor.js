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
  presence: [],
  presenceIdx: null,
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
  scheduleRender("lobby");
  renderControls();
}

function onPresence(msg) {
  D.presence = msg.rows || [];
  D.presenceIdx = msg.current_question_idx ?? null;
  D.orphans = msg.orphan_duplicate_joins || [];
  D.roster = Array.isArray(msg.not_joined) ? { notJoined: msg.not_joined, refused: msg.refused_joins || [] } : null;
  scheduleRender("presence");
  scheduleRender("orphans");
  scheduleRender("roster");
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
  const connectedCount = D.presence.reduce((a, r) => a + (r.connected ? 1 : 0), 0);
  setText("st-connected", formatNumber(connectedCount));
  const answered = D.presence.reduce((a, r) => a + (r.answered_current ? 1 : 0), 0);
  setText(
    "st-answered",
    open || D.state === "question_closed" ? t("status.answered_of", { count: answered, total: D.presence.length }) : "—",
  );
  const waiting = open ? D.waitingExtra : 0;
  if (waiting > 0) setT("st-waiting", "dash.waiting_extra", { count: waiting });
  $("st-waiting").hidden = waiting === 0;

  const next = $("btn-next");
  setT(next, D.state === "lobby" ? "controls.start" : finished ? "controls.finished" : "controls.next");
  next.disabled = !connected || finished || D.state === null;
  setText("next-hint", nextDescription());
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

$("btn-next").addEventListener("click", () => send({ type: "next" }));
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
  return D.presenceIdx === idx ? D.presence.reduce((a, r) => a + (r.answered_current ? 1 : 0), 0) : 0;
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

// ------------------------------------------------------------------ leaderboard

function renderLeaderboard(rows) {
  const frag = document.createDocumentFragment();
  for (const r of rows) {
    frag.appendChild(
      el(
        "tr",
        null,
        el("td", { class: "num" }, formatNumber(r.rank)),
        el("td", { dir: "auto" }, r.name),
        el("td", { class: "mono" }, r.student_id ?? ""),
        el("td", { class: "num" }, fmtScore(r.score)),
      ),
    );
  }
  $("lb-body").replaceChildren(frag);
  $("lb-empty").hidden = rows.length > 0;
  $("lb-table").closest(".table-scroll").hidden = rows.length === 0;
  D.leaderboard = rows;
  setText("lb-count", rows.length ? t("board.count", { count: rows.length }) : "");
}

// ------------------------------------------------------------------ lobby + orphans

function renderLobby() {
  const list = D.participants;
  setText("lobby-count", formatNumber(D.participantCount));
  const frag = document.createDocumentFragment();
  for (const p of list) {
    frag.appendChild(el("li", null, el("bdi", { class: "lobby-name" }, p.name), " ", el("bdi", { class: "muted mono" }, p.student_id)));
  }
  $("lobby-list").replaceChildren(frag);
  $("lobby-empty").hidden = list.length > 0;
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
  for (const o of D.orphans) {
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

/** With a class list: who has not joined yet, and the IDs refused for not being on it. */
function renderRoster() {
  const roster = D.roster;
  $("roster-panel").hidden = !roster;
  if (!roster) return;
  const notJoined = roster.notJoined || [];
  setText("not-joined-count", formatNumber(notJoined.length));
  $("not-joined-count").setAttribute("aria-label", t("presence.not_joined_count", { count: notJoined.length }));
  setChildren(
    $("not-joined-list"),
    notJoined.map((s) => el("li", null, el("bdi", { class: "lobby-name" }, s.name || ""), " ", el("bdi", { class: "muted mono" }, s.student_id))),
  );
  $("not-joined-list").hidden = notJoined.length === 0;
  $("not-joined-empty").hidden = notJoined.length > 0;
  const refused = (roster.refused || []).slice().sort((a, b) => (toEpochMs(b.latest_ts) || 0) - (toEpochMs(a.latest_ts) || 0));
  setChildren(
    $("refused-body"),
    refused.map((r) => {
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
}

// ------------------------------------------------------------------ presence table

const COLUMNS = [
  { key: "student_id", label: "common.student_id", get: (r) => String(r.student_id ?? ""), text: true },
  { key: "name", label: "common.name", get: (r) => String(r.name ?? ""), text: true },
  { key: "connected", label: "presence.col_status", get: (r) => (r.connected ? 1 : 0) },
  { key: "last_seen", label: "presence.col_last_seen", get: (r) => (r.connected ? Number.MAX_SAFE_INTEGER : toEpochMs(r.last_seen_ms) || 0) },
  { key: "blur", label: "presence.col_blur", get: (r) => Number(r.blur_count) || 0, num: true },
  { key: "hidden", label: "presence.col_hidden", get: (r) => Number(r.hidden_count) || 0, num: true },
  { key: "dup", label: "presence.col_dup", get: (r) => dupInfo(r).count, num: true },
  { key: "answered", label: "presence.col_answered", get: (r) => (r.answered_current ? 1 : 0) },
  { key: "actions", label: "presence.col_actions", sortable: false },
];

// Sorting by name follows the dashboard's language (re-made when it changes).
let collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function buildHead() {
  const cells = COLUMNS.map((c) => {
    if (c.sortable === false) return tEl("th", { scope: "col" }, c.label);
    return el(
      "th",
      { scope: "col", class: c.num ? "num" : null, dataset: { key: c.key } },
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
    D.sortDir = col && col.text ? 1 : -1;
  }
  updateSortIndicators();
  scheduleRender("presence");
});

$("presence-filter").addEventListener("input", () => scheduleRender("presence"));
$("presence-show").addEventListener("change", () => scheduleRender("presence"));

function visibleRows() {
  const needle = $("presence-filter").value.trim().toLowerCase();
  const show = $("presence-show").value;
  let rows = D.presence.filter((r) => {
    if (needle && !String(r.student_id).toLowerCase().includes(needle) && !String(r.name).toLowerCase().includes(needle)) return false;
    switch (show) {
      case "connected":
        return !!r.connected;
      case "disconnected":
        return !r.connected;
      case "unanswered":
        return !r.answered_current;
      case "answered":
        return !!r.answered_current;
      case "flagged":
        return (Number(r.blur_count) || 0) + (Number(r.hidden_count) || 0) + dupInfo(r).count > 0;
      default:
        return true;
    }
  });
  const col = COLUMNS.find((c) => c.key === D.sortKey) || COLUMNS[0];
  const dir = D.sortDir;
  const idCol = COLUMNS[0];
  rows = rows
    .map((r) => ({ r, k: col.get(r), id: idCol.get(r) }))
    .sort((a, b) => {
      let c = col.text ? collator.compare(a.k, b.k) : a.k - b.k;
      if (c === 0) c = collator.compare(a.id, b.id);
      else c *= dir;
      return c;
    })
    .map((x) => x.r);
  return rows;
}

// Rows are kept per student and patched in place: a presence_update for 300+
// students then costs a few text writes and, when the order changed, one move
// of existing <tr>s (no element creation, hover and focus survive).
const rowCache = new Map(); // student_id -> {tr, cells, sig, row}

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
  return { tr, cells, sig: "", row: null };
}

function fillRow(entry, r) {
  const c = entry.cells;
  const dup = dupInfo(r);
  const flagged = dup.count > 0;
  entry.tr.className = `${r.connected ? "" : "is-offline"}${flagged ? " is-flagged" : ""}`.trim();
  c.name.textContent = r.name ?? "";
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

function renderPresence() {
  const rows = visibleRows();
  const present = new Set();
  const ordered = [];
  for (const r of rows) {
    const id = String(r.student_id);
    let entry = rowCache.get(id);
    if (!entry) {
      entry = makeRow(id);
      rowCache.set(id, entry);
    }
    const sig = rowSignature(r);
    if (sig !== entry.sig) {
      fillRow(entry, r);
      entry.sig = sig;
    }
    entry.row = r;
    ordered.push(entry.tr);
  }
  for (const r of D.presence) present.add(String(r.student_id));
  for (const id of rowCache.keys()) if (!present.has(id)) rowCache.delete(id);

  const body = $("presence-body");
  const current = body.children;
  let same = current.length === ordered.length;
  for (let i = 0; same && i < ordered.length; i += 1) same = current[i] === ordered[i];
  if (!same) {
    const active = document.activeElement;
    const keepFocus = active && body.contains(active) ? active : null;
    const frag = document.createDocumentFragment();
    for (const tr of ordered) frag.appendChild(tr);
    body.replaceChildren(frag);
    if (keepFocus && body.contains(keepFocus)) keepFocus.focus({ preventScroll: true });
  }

  $("presence-empty").hidden = D.presence.length > 0;
  $("presence-table").closest(".table-scroll").hidden = D.presence.length === 0;
  const connected = D.presence.reduce((a, r) => a + (r.connected ? 1 : 0), 0);
  const summary = { count: D.presence.length, online: connected, shown: rows.length };
  setText("presence-summary", t(rows.length !== D.presence.length ? "presence.summary_filtered" : "presence.summary", summary));
}

$("presence-body").addEventListener("click", (ev) => {
  const button = ev.target.closest("button.clear-button");
  if (!button) return;
  const id = button.dataset.studentId;
  const row = D.presence.find((r) => String(r.student_id) === id);
  const who = row ? `${row.name} (${id})` : id;
  if (window.confirm(t("presence.confirm_clear", { who }))) {
    send({ type: "clear_student", student_id: id });
  }
});

// Refresh the "last seen" cells without rebuilding the table.
window.setInterval(() => {
  for (const entry of rowCache.values()) {
    if (entry.row && !entry.row.connected) entry.cells.seen.textContent = lastSeenText(entry.row);
  }
}, 5000);

// ------------------------------------------------------------------ render scheduling

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
      if (w === "presence") renderPresence();
      else if (w === "lobby") renderLobby();
      else if (w === "orphans") renderOrphans();
      else if (w === "roster") renderRoster();
    }
  });
}

// ------------------------------------------------------------------ boot

/** After a change in the language menu: re-render what this page composes from messages. */
function onLanguageChange() {
  collator = new Intl.Collator(document.documentElement.lang, { numeric: true, sensitivity: "base" });
  for (const entry of rowCache.values()) entry.sig = ""; // every row is filled again
  renderControls();
  renderQuestion();
  renderLeaderboard(D.leaderboard || []);
  renderLobby();
  renderOrphans();
  renderRoster();
  scheduleRender("presence");
}

await initPageLanguage({ storageKey: LANGUAGE_KEY, menu: $("lang-select"), onChange: onLanguageChange });
collator = new Intl.Collator(document.documentElement.lang, { numeric: true, sensitivity: "base" });
buildHead();
renderControls();
renderQuestion();
renderLeaderboard([]);
renderLobby();
renderOrphans();
scheduleRender("presence");
startSocket();
