// The jobs console (jobs/admin.py): rows and the job page follow console:jobs, live.
import {STATUS_OF, connect} from "../realtime/coucou.js";

const live = document.getElementById("console-live");
const pageJob = live.dataset.job || null; // set on one job's page
const newJobs = new Set();

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

function cells(selector, id) {
  return document.querySelectorAll(`${selector}[data-job="${CSS.escape(id)}"]`);
}

function showStatus(id, status) {
  for (const cell of cells(".job-status", id)) {
    cell.dataset.status = status;
    cell.textContent = status;
  }
  if (id === pageJob && FINISHED.has(status)) {
    document.getElementById("console-cancel")?.closest("li")?.remove();
  }
}

function showProgress(id, percent, message) {
  for (const cell of cells(".job-progress", id)) {
    const bar = cell.querySelector("progress");
    if (percent == null) bar.removeAttribute("value");
    else bar.value = percent;
    cell.querySelector(".job-progress-text").textContent = percent == null ? "" : `${percent} %`;
    if (message !== undefined) cell.querySelector(".job-progress-message").textContent = message;
  }
}

function addToTimeline(event) {
  const body = document.querySelector(`.job-timeline[data-job="${CSS.escape(event.job)}"] tbody`);
  if (!body) return;
  const row = body.insertRow();
  for (const text of ["", event.ts ?? "", event.type, JSON.stringify(event.data ?? null)]) {
    const cell = row.insertCell();
    if (text && cell.cellIndex >= 2) {
      const code = document.createElement("code");
      code.textContent = text;
      cell.append(code);
    } else cell.textContent = text;
  }
}

function announceNew(id) {
  if (pageJob) return;
  newJobs.add(id);
  const link = document.getElementById("console-new");
  link.hidden = false;
  link.textContent = `${newJobs.size} new job(s): reload to see`;
}

function apply(event) {
  if (!event.job) return;
  const known = cells(".job-status", event.job).length > 0;
  if (!known) {
    if (event.type === "job.queued") announceNew(event.job);
    return;
  }
  const status = STATUS_OF[event.type];
  if (status) showStatus(event.job, status);
  const data = event.data ?? {};
  if (event.type === "job.progress") showProgress(event.job, data.percent, data.message ?? "");
  if (event.type === "job.succeeded") showProgress(event.job, 100);
  if (event.job === pageJob) addToTimeline(event);
}

const STATE_TEXT = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Not live",
  unauthenticated: "Signed out: reload the page",
};
function state(text, key) {
  live.dataset.state = key;
  live.querySelector(".console-live-text").textContent = text;
}

const connection = connect();
connection.on("state", (s) => state(STATE_TEXT[s] ?? s, s));
const after = live.dataset.after === "" ? null : Number(live.dataset.after);
const options = after == null ? {} : {after, epoch: live.dataset.epoch || null};
const feed = connection.subscribe(live.dataset.channel, options);
for (const type of Object.keys(STATUS_OF)) feed.on(type, apply);
feed.on("resync", () => state("Events were missed: reload to see the current state", "reconnecting"));
feed.on("unsubscribed", () => state("Not allowed to follow jobs live", "closed"));
feed.on("error", (frame) => state(`Not live: ${frame.detail ?? frame.code}`, "closed"));

// For the browser tests: what the page follows.
window.jobsConsole = {connection, feed};
