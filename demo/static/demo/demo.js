// The demo page: start jobs over REST, follow them live through coucou.js.
import {connect} from "../realtime/coucou.js";

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const jobList = document.getElementById("jobs");
const startError = document.getElementById("start-error");
const rows = new Map();

const connection = connect();
// Debug hooks for the browser tests: every event's seq in the order shown, and the states.
window.coucou = connection;
window.coucouLog = [];
window.coucouStates = [connection.state];
connection.on("*", (event) => window.coucouLog.push(event.seq));

// --- the connection indicator -------------------------------------------------------------
const STATE_TEXT = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
  unauthenticated: "Signed out: reload the page to sign in",
};
const indicator = document.getElementById("connection");
function showState(state) {
  window.coucouStates.push(state);
  indicator.dataset.state = state;
  indicator.querySelector(".connection-text").textContent = STATE_TEXT[state] ?? state;
}
connection.on("state", showState);

// --- greetings ----------------------------------------------------------------------------
connection.on("coucou", (event) => {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = event.ts;
  time.textContent = new Date(event.ts).toLocaleTimeString();
  item.append(event.data.message, " ", time);
  document.getElementById("greetings").prepend(item);
  document.getElementById("no-greetings").hidden = true;
});

// --- the job list -------------------------------------------------------------------------
function describeParams(params) {
  return Object.entries(params ?? {})
    .map(([name, value]) => `${name}=${typeof value === "string" ? JSON.stringify(value) : value}`)
    .join(", ");
}

function showJob(row, job) {
  row.dataset.status = job.status ?? "";
  if (job.task) {
    row.querySelector(".job-task").textContent = job.task;
    row.querySelector("coucou-progress").setAttribute("label", `Progress of ${job.task}`);
    row.querySelector(".job-cancel").setAttribute("aria-label", `Cancel ${job.task}`);
  }
  if (job.params) row.querySelector(".job-params").textContent = describeParams(job.params);
  if (job.task === "demo.stream") {
    const output = row.querySelector("coucou-output");
    output.setAttribute("key", job.params?.key ?? "text");
    output.setAttribute("job", job.id);
    output.setAttribute("aria-label", `Output of ${job.task}`);
    output.hidden = false;
  }
  row.querySelector(".job-status").textContent = job.status ?? "…";
  const outcome = row.querySelector(".job-outcome");
  if (job.status === "succeeded") {
    outcome.textContent = `Result: ${JSON.stringify(job.result)}`;
  } else if (job.status === "failed" || job.status === "cancelled") {
    outcome.textContent = job.error ? `Error: ${job.error.message}` : `The job was ${job.status}.`;
  }
  outcome.hidden = !outcome.textContent;
  row.querySelector(".job-cancel").hidden = job.status !== "queued" && job.status !== "running";
}

function addJob(id, rest = null, {first = true} = {}) {
  const handle = connection.job(id, rest);
  if (rows.has(id)) return;
  const row = document.getElementById("job-row").content.firstElementChild.cloneNode(true);
  row.dataset.job = id;
  row.querySelector("coucou-progress").setAttribute("job", id);
  rows.set(id, row);
  if (first) jobList.prepend(row);
  else jobList.append(row);
  document.getElementById("no-jobs").hidden = true;
  showJob(row, handle.snapshot());
  handle.onState((job) => showJob(row, job));
  const cancel = row.querySelector(".job-cancel");
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/api/jobs/${encodeURIComponent(id)}/cancel`, {method: "POST"});
    } catch (error) {
      startError.textContent = `Could not cancel: ${error.message}`;
      startError.hidden = false;
    } finally {
      cancel.disabled = false;
    }
  });
}

// A job started elsewhere (another tab, a script) appears with its first event; a child job
// (demo.fanout's) does not get a row of its own: its parent's bar and count show it.
const childJobs = new Set();
connection.on("*", (event) => {
  if (typeof event.job !== "string") return;
  if (event.type === "job.queued" && event.data?.parent) childJobs.add(event.job);
  if (!childJobs.has(event.job)) addJob(event.job);
});

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: {Accept: "application/json", "X-CSRFToken": csrfToken, ...(options.headers ?? {})},
  });
  const body = await response.json().catch(() => ({detail: response.statusText}));
  if (!response.ok) throw new Error(describeError(response.status, body.detail));
  return body;
}

function describeError(status, detail) {
  if (Array.isArray(detail)) return detail.map((e) => `${e.loc.at(-1)}: ${e.msg}`).join("; ");
  return `${status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`;
}

async function loadJobs() {
  const page = await api("/api/jobs?limit=50");
  for (const job of page.items) {
    if (job.parent) childJobs.add(job.id);
    else addJob(job.id, job, {first: false});
  }
  jobList.setAttribute("aria-busy", "false");
  document.getElementById("no-jobs").hidden = rows.size > 0;
}
connection.on("resync", () => loadJobs().catch(console.error));

// --- starting jobs ------------------------------------------------------------------------

function paramsOf(form) {
  const params = {};
  for (const input of form.querySelectorAll("input[name]")) {
    params[input.name] = input.type === "number" ? Number(input.value) : input.value;
  }
  return params;
}

for (const form of document.querySelectorAll("form.starter")) {
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const task = form.dataset.task;
    const button = form.querySelector("button");
    button.disabled = true;
    startError.hidden = true;
    try {
      const job =
        task === "coucou"
          ? await api("/api/coucou", {method: "POST"})
          : await api("/api/jobs", {
              method: "POST",
              headers: {"Content-Type": "application/json"},
              body: JSON.stringify({task, params: paramsOf(form)}),
            });
      addJob(job.id, job);
    } catch (error) {
      startError.textContent = `Could not start ${task}: ${error.message}`;
      startError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

loadJobs().catch((error) => {
  jobList.setAttribute("aria-busy", "false");
  startError.textContent = `Could not load your jobs: ${error.message}`;
  startError.hidden = false;
});
