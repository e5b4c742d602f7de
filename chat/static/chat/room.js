// A chat room: its messages live on chat:<slug> (the channel's history on join, older ones
// over REST), who is here from presence, and a form that posts over REST.
import {connect} from "../realtime/coucou.js";

const room = document.getElementById("room");
const channel = room.dataset.channel;
const me = Number(room.dataset.user);
const messagesUrl = room.dataset.messagesUrl;
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const list = document.getElementById("messages");
const older = document.getElementById("older");
const messages = new Map(); // id -> {id, author: {id, username}, body, created}
const present = new Map(); // user id -> username

// --- messages -----------------------------------------------------------------------------
function row(message) {
  const li = document.getElementById("message-row").content.firstElementChild.cloneNode(true);
  li.dataset.id = message.id;
  li.classList.toggle("mine", message.author.id === me);
  li.querySelector(".message-author").textContent = message.author.username;
  const time = li.querySelector(".message-time");
  time.dateTime = message.created;
  time.textContent = new Date(message.created).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  li.querySelector(".message-body").textContent = message.body;
  return li;
}

// Every message once, in id order (oldest first), wherever it came from: the channel's
// history, a live event, a page of older ones, or the answer to our own post.
function add(message) {
  if (!message || messages.has(message.id)) return;
  messages.set(message.id, message);
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const next = [...list.children].find((li) => Number(li.dataset.id) > message.id);
  list.insertBefore(row(message), next ?? null);
  document.getElementById("no-messages").hidden = true;
  if (!next && atBottom) list.scrollTop = list.scrollHeight;
}

async function api(url, options = {}) {
  const response = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: {Accept: "application/json", "X-CSRFToken": csrfToken, ...(options.headers ?? {})},
  });
  const body = await response.json().catch(() => ({}));
  return {ok: response.ok, status: response.status, body};
}

function oldestId() {
  return messages.size ? Math.min(...messages.keys()) : null;
}

async function loadPage(before) {
  const query = new URLSearchParams({limit: "50"});
  if (before != null) query.set("before", String(before));
  const {ok, body} = await api(`${messagesUrl}?${query}`);
  if (!ok) return;
  for (const message of body.items) add(message);
  return body.more;
}

older.addEventListener("click", async () => {
  older.disabled = true;
  const more = await loadPage(oldestId());
  older.disabled = false;
  if (more === false) {
    older.hidden = true;
    older.insertAdjacentHTML("afterend", '<span class="muted" id="no-older">No older message.</span>');
  }
});

// --- posting ------------------------------------------------------------------------------
const form = document.getElementById("say");
const input = document.getElementById("body");
const sayError = document.getElementById("say-error");

function detailText(detail) {
  if (Array.isArray(detail)) return detail.map((error) => error.msg).join("; ");
  return String(detail ?? "something went wrong");
}

form.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const {ok, status, body} = await api(messagesUrl, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({body: input.value}),
    });
    sayError.hidden = ok;
    if (ok) {
      add(body);
      input.value = "";
    } else {
      sayError.textContent = status === 429 ? "Slow down a little: too many messages." : detailText(body.detail);
    }
  } catch {
    sayError.hidden = false;
    sayError.textContent = "Not sent: the network is unreachable.";
  } finally {
    button.disabled = false;
    input.focus();
  }
});

// --- presence -----------------------------------------------------------------------------
function showPresence() {
  document.getElementById("presence").replaceChildren(
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

async function loadPresence(handle) {
  let users = typeof handle.presence === "function" ? await handle.presence() : null;
  if (!Array.isArray(users)) users = users?.users;
  if (!Array.isArray(users)) {
    const {ok, body} = await api(`/api/realtime/presence/${encodeURIComponent(channel)}`);
    users = ok ? body.users : [];
  }
  present.clear();
  for (const user of users ?? []) present.set(user.id, user.username);
  showPresence();
}

// --- the socket ---------------------------------------------------------------------------
const connection = connect();
const indicator = document.getElementById("connection");
const STATE_TEXT = {connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", closed: "Disconnected"};
connection.on("state", (state) => {
  indicator.dataset.state = state;
  indicator.querySelector(".connection-text").textContent = STATE_TEXT[state] ?? state;
});

// after: 0 replays what the channel retains (its last 1,000 messages); older ones over REST.
const handle = connection.subscribe(channel, {after: 0});
handle.on("chat.message", (event) => add(event.data));
handle.on("resync", () => loadPage(null)); // the channel lost history: the database has it
handle.on("presence.join", (event) => {
  present.set(event.data.user.id, event.data.user.username);
  showPresence();
});
handle.on("presence.leave", (event) => {
  present.delete(event.data.user.id);
  showPresence();
});
handle.on("subscribed", () => loadPresence(handle).catch(() => {}));

// For the browser tests: the room's state as the page sees it.
window.chatRoom = {connection, handle, messages, present};
