// A team's job board: the jobs started on team:<id>, live over coucou.js, and who is here.
import {STATUS_OF, connect} from "../realtime/coucou.js";

const board = document.getElementById("board");
const channel = board.dataset.channel;
const list = document.getElementById("jobs");
const jobs = new Map(); // id -> {id, task, owner, status, percent, message, error}
const present = new Map(); // user id -> username


// --- rows ---------------------------------------------------------------------------------
function rowOf(id) {
  let row = list.querySelector(`[data-job="${CSS.escape(id)}"]`);
  if (!row) {
    row = document.getElementById("job-row").content.firstElementChild.cloneNode(true);
    row.dataset.job = id;
    list.prepend(row);
    document.getElementById("no-jobs").hidden = true;
  }
  return row;
}

function show(job) {
  const row = rowOf(job.id);
  row.dataset.status = job.status;
  row.querySelector(".job-task").textContent = job.task || "job";
  row.querySelector(".job-owner").textContent = job.owner ? `by ${job.owner}` : "";
  row.querySelector(".job-status").textContent = job.status;
  const bar = row.querySelector("progress");
  if (job.percent == null) bar.removeAttribute("value");
  else bar.value = job.percent;
  if (job.status === "succeeded") bar.value = 100;
  const text = job.percent == null ? "" : `${Math.round(job.percent)} %`;
  row.querySelector(".board-progress-text").textContent = [text, job.message].filter(Boolean).join(" · ");
  const outcome = row.querySelector(".job-outcome");
  outcome.hidden = !job.error;
  outcome.textContent = job.error || "";
}

function load(rows) {
  for (const job of rows.slice().reverse()) {
    jobs.set(job.id, job);
    show(job);
  }
}

// The database is the truth: after a resync, and to learn who started a job first heard of
// through its events (they carry no owner).
let refreshing = null;
function refreshSoon() {
  refreshing ??= setTimeout(async () => {
    refreshing = null;
    const response = await fetch(board.dataset.jobsUrl, {credentials: "same-origin"});
    if (response.ok) load((await response.json()).jobs);
  }, 300);
}

function apply(event) {
  if (!event.job) return;
  let job = jobs.get(event.job);
  if (!job) {
    job = {id: event.job, task: "", owner: "", status: "queued", percent: null, message: "", error: null};
    jobs.set(job.id, job);
    refreshSoon();
  }
  job.status = STATUS_OF[event.type] ?? job.status;
  const data = event.data ?? {};
  if (event.type === "job.queued") job.task = data.task ?? job.task;
  if (event.type === "job.progress") {
    job.percent = data.percent;
    job.message = data.message ?? "";
  }
  if (event.type === "job.failed") job.error = data.error?.message ?? "failed";
  if (event.type === "job.succeeded") job.percent = 100;
  show(job);
}

// --- presence -----------------------------------------------------------------------------
function showPresence() {
  const ul = document.getElementById("presence");
  ul.replaceChildren(
    ...[...present.entries()]
      .sort((a, b) => a[1].localeCompare(b[1]))
      .map(([id, username]) => {
        const li = document.createElement("li");
        li.dataset.user = id;
        li.textContent = username;
        return li;
      }),
  );
}

function setPresent(users) {
  present.clear();
  for (const user of users ?? []) present.set(user.id, user.username);
  showPresence();
}

async function loadPresence(handle) {
  try {
    setPresent(await handle.presence());
  } catch (error) {
    console.warn("presence unavailable", error); // the join and leave frames still come
  }
}

// --- the socket ---------------------------------------------------------------------------
load(JSON.parse(document.getElementById("board-jobs").textContent));

const connection = connect();
const indicator = document.getElementById("connection");
const STATE_TEXT = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
  unauthenticated: "Signed out: reload the page to sign in",
};
connection.on("state", (state) => {
  indicator.dataset.state = state;
  indicator.querySelector(".connection-text").textContent = STATE_TEXT[state] ?? state;
});

const handle = connection.subscribe(channel, {after: 0});
for (const type of Object.keys(STATUS_OF)) handle.on(type, apply);
handle.on("resync", refreshSoon);
handle.on("presence.join", (event) => {
  present.set(event.data.user.id, event.data.user.username);
  showPresence();
});
handle.on("presence.leave", (event) => {
  present.delete(event.data.user.id);
  showPresence();
});
handle.on("subscribed", () => loadPresence(handle)); // after every (re)subscribe: presence is a state
handle.on("unsubscribed", (frame) => {
  // Kicked (taken off the team) or refused: this page shows nothing live any more.
  indicator.dataset.state = "closed";
  indicator.querySelector(".connection-text").textContent =
    frame.reason === "kicked" ? "No longer a member of this team" : "Not allowed to follow this team";
});

// For the browser tests: the board's state as the page sees it.
window.teamBoard = {connection, handle, jobs, present};
